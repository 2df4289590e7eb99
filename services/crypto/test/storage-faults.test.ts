// A key store that cannot write: the caller gets UNAVAILABLE (not INTERNAL), the real SQLite
// error is logged (not "cannot rollback"), health turns NOT_SERVING while it lasts and
// SERVING again after. The fault is a write lock held by another connection to the same file
// (what a stuck process sharing the volume does); permissions cannot make a file read-only
// for a test running as root.
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { healthClient } from "./support/grpc-clients.ts";
import { codeOf, startHarness, utf8 } from "./support/harness.ts";

const SERVICE = "cvwallet.crypto.v1.CryptoService";

async function until(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A probe blocked on the lock holds the event loop for the busy timeout: a check may time out.
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("a key store that cannot write", () => {
  it("answers UNAVAILABLE with the cause logged, and health follows the store", async () => {
    const h = await startHarness({ storeCheckMs: 100 });
    const health = healthClient(h.server.address);
    const blocker = new DatabaseSync(join(h.dataDir, "crypto.db"));
    try {
      expect(await health.check(SERVICE)).toBe("SERVING");
      blocker.exec("BEGIN IMMEDIATE"); // holds the write lock until ROLLBACK
      const failed = (await h.client
        .encrypt({ keyName: "user/blocked", plaintext: utf8("sk-blocked-secret"), context: utf8("c") }, h.auth)
        .catch((e: unknown) => e)) as grpc.ServiceError;
      expect(failed.code).toBe(grpc.status.UNAVAILABLE);
      expect(failed.details).toMatch(/key store cannot serve this request now: the database is locked/);
      await until(async () => (await health.check(SERVICE)) === "NOT_SERVING");

      const lines = h.logs.entries();
      const cause = lines.filter((l) => l.msg === "key store cannot serve: answering unavailable");
      expect(cause).toHaveLength(1);
      expect(JSON.stringify(cause[0])).toMatch(/database is locked/);
      expect(h.logs.text()).not.toMatch(/cannot rollback/);
      expect(lines.some((l) => l.msg === "unexpected error in gRPC handler")).toBe(false);
      expect(lines.some((l) => l.msg === "key store cannot write: health NOT_SERVING")).toBe(true);

      blocker.exec("ROLLBACK");
      await until(async () => (await health.check(SERVICE)) === "SERVING");
      expect(
        await codeOf(h.client.encrypt({ keyName: "user/blocked", plaintext: utf8("x"), context: utf8("c") }, h.auth)),
      ).toBe("ok");
      expect(h.logs.text()).not.toContain("sk-blocked-secret");
    } finally {
      if (blocker.isTransaction) blocker.exec("ROLLBACK");
      blocker.close();
      health.close();
      await h.stop();
    }
  });

  it("names the variable and the path when the data directory cannot hold the database", async () => {
    const error = await startHarness({ dataDir: "/dev/null/crypto" }).catch((e: unknown) => e);
    expect(String(error)).toMatch(/CRYPTO_DATA_DIR: cannot open the SQLite file \/dev\/null\/crypto\/crypto\.db/);
  });
});
