import { describe, expect, it } from "vitest";
import { DekCache } from "../src/keyring/dek-cache.ts";

const key = (fill: number) => new Uint8Array(32).fill(fill);

describe("DekCache", () => {
  it("coalesces concurrent misses for one DEK into one load", async () => {
    let loads = 0;
    const cache = new DekCache({ ttlMs: 60_000, maxEntries: 10 });
    const load = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 10));
      return key(7);
    };
    const seen = await Promise.all(Array.from({ length: 1000 }, () => cache.use("k", load, (_k, dek) => dek[0])));
    expect(loads).toBe(1);
    expect(new Set(seen)).toEqual(new Set([7]));
  });

  it("expires entries after the TTL and zeroes them", async () => {
    let now = 1_000; // lru-cache reads a start time of 0 as "no start": real clocks never say 0
    let loads = 0;
    const cache = new DekCache({ ttlMs: 1000, maxEntries: 10, now: () => now });
    const load = async () => {
      loads++;
      return key(1);
    };
    const held = await cache.use("k", load, (_k, dek) => dek);
    now = 1_999;
    await cache.use("k", load, () => undefined);
    expect(loads).toBe(1);
    now = 2_500; // past load + TTL (2,000), not past last use + TTL (2,999): age counts from the load
    await cache.use("k", load, () => undefined);
    expect(loads).toBe(2);
    expect(held.every((b) => b === 0)).toBe(true);
  });

  it("evicts the least recently used beyond max entries, zeroing it", async () => {
    const cache = new DekCache({ ttlMs: 60_000, maxEntries: 2 });
    const a = await cache.use(
      "a",
      async () => key(1),
      (_k, d) => d,
    );
    const b = await cache.use(
      "b",
      async () => key(2),
      (_k, d) => d,
    );
    await cache.use(
      "a",
      async () => key(9),
      () => undefined,
    ); // touch a
    await cache.use(
      "c",
      async () => key(3),
      () => undefined,
    ); // evicts b
    expect(cache.size).toBe(2);
    expect(b.every((x) => x === 0)).toBe(true);
    expect(a.every((x) => x === 1)).toBe(true);
  });

  it("zeroes the loaded source and every entry on clear", async () => {
    const cache = new DekCache({ ttlMs: 60_000, maxEntries: 10 });
    const source = key(5);
    const held = await cache.use(
      "a",
      async () => source,
      (_k, d) => d,
    );
    expect(source.every((x) => x === 0)).toBe(true);
    expect(held[0]).toBe(5);
    cache.clear();
    expect(held.every((x) => x === 0)).toBe(true);
    expect(cache.size).toBe(0);
  });

  it("never hands out a DEK evicted between its load and its use", async () => {
    const cache = new DekCache({ ttlMs: 60_000, maxEntries: 1 });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        cache.use(
          `k${i % 5}`,
          async () => key(1 + (i % 5)),
          (_k, d) => d[0],
        ),
      ),
    );
    expect(results.every((r) => r !== 0)).toBe(true);
  });

  it("drops a destroyed key's DEKs by prefix", async () => {
    const cache = new DekCache({ ttlMs: 60_000, maxEntries: 10 });
    const gone = await cache.use(
      "user/a\u00001",
      async () => key(1),
      (_k, d) => d,
    );
    await cache.use(
      "user/ab\u00001",
      async () => key(2),
      () => undefined,
    );
    cache.deletePrefix("user/a\u0000");
    expect(gone.every((x) => x === 0)).toBe(true);
    expect(cache.size).toBe(1);
  });
});
