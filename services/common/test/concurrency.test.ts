import { describe, expect, it } from "vitest";
import { forEachLimit } from "../src/concurrency.ts";

describe("forEachLimit", () => {
  it("runs every item, never more than `limit` at once", async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await forEachLimit([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, n % 3));
      done.push(n);
      running--;
    });
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(most).toBe(3);
  });

  it("does nothing for no items, and rejects when a call throws", async () => {
    await forEachLimit([], 4, async () => {
      throw new Error("never called");
    });
    await expect(
      forEachLimit([1, 2], 2, async (n) => {
        if (n === 2) throw new Error("two");
      }),
    ).rejects.toThrow("two");
  });
});
