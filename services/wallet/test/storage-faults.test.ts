// The wallet's own storage failing under it: a read-only (immutable) database file or a full
// disk answers 503 unavailable with the real cause logged once (not "cannot rollback"),
// readiness goes down while the store cannot write and comes back without a restart, and a
// data directory that cannot be opened names WALLET_DATA_DIR and the path at start-up.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { transaction as tx } from "@cv-wallet/common/sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storageFault } from "../src/store/guard.ts";
import { createKey, createToken, rest, type Stack, signUp, startStack } from "./stack.ts";

describe("a full disk, in SQLite itself", () => {
  it("a constraint error is a conflict or a bug, not a storage fault", () => {
    const db = new DatabaseSync(":memory:");
    db.exec("CREATE TABLE u (v TEXT UNIQUE); INSERT INTO u VALUES ('a')");
    let caught: unknown;
    try {
      db.exec("INSERT INTO u VALUES ('a')");
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeDefined();
    expect(storageFault(caught)).toBeUndefined();
    db.close();
  });

  it("is a storage fault, and the transaction reports it rather than 'cannot rollback'", () => {
    const dir = mkdtempSync(join(tmpdir(), "wallet-full-"));
    const db = new DatabaseSync(join(dir, "full.db"));
    try {
      db.exec("CREATE TABLE t (v TEXT)");
      const pages = (db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count;
      // The database may not grow: the next insert that needs a page hits SQLITE_FULL.
      db.exec(`PRAGMA max_page_count = ${pages}`);
      let caught: unknown;
      try {
        tx(db, () => {
          for (let i = 0; i < 1000; i++) db.prepare("INSERT INTO t VALUES (?)").run("x".repeat(1000));
        });
      } catch (error) {
        caught = error;
      }
      expect((caught as Error).message).toMatch(/full/);
      expect((caught as Error).message).not.toMatch(/cannot rollback/);
      expect(storageFault(caught)).toBe("the disk is full (SQLITE_FULL)");
      expect(db.isTransaction).toBe(false);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function chattrWorks(): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), "wallet-chattr-"));
  const f = join(dir, "probe");
  writeFileSync(f, "x");
  try {
    execFileSync("chattr", ["+i", f], { stdio: "pipe" });
    execFileSync("chattr", ["-i", f], { stdio: "pipe" });
    return undefined;
  } catch (error) {
    return `chattr +i is not available here (${(error as Error).message.split("\n")[0]}); needs root on a filesystem with immutable flags`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the wallet's database becomes unwritable under a running wallet", () => {
  let stack: Stack;
  const noChattr = chattrWorks();
  let files: string[] = [];
  const setImmutable = (on: boolean) => {
    for (const f of files) execFileSync("chattr", [on ? "+i" : "-i", f]);
  };

  beforeAll(async () => {
    if (noChattr) return;
    stack = await startStack();
  });
  afterAll(async () => {
    if (files.length) setImmutable(false);
    await stack?.stop();
  });

  it("answers 503 unavailable, logs the cause once, fails readiness, and recovers without a restart", async (ctx) => {
    if (noChattr) {
      console.warn(`[skip] storage faults under a running wallet: ${noChattr}`);
      return ctx.skip();
    }
    const base = stack.url;
    const a = await signUp(base);
    const token = (await createToken(base, a)).secret;
    await createKey(base, { token }, { provider: "groq", key: "gsk_storagefault0123" });
    expect((await rest(base, "GET", "/readyz")).status).toBe(200);

    const dir = join(stack.dir, "wallet");
    files = readdirSync(dir)
      // The database and its WAL. Not the -shm file: SQLite maps it into memory, and a write to
      // an immutable mapped page is a SIGBUS, a fault of a different kind than a full disk.
      .filter((f) => f === "wallet.db" || f === "wallet.db-wal")
      .map((f) => join(dir, f));
    setImmutable(true);
    const replies = [];
    for (let i = 0; i < 6; i++) {
      replies.push(
        await rest(
          base,
          "POST",
          "/api/keys",
          { provider: "openai", name: `f${i}`, key: `sk-proj-fault-${i}-0000` },
          { token },
        ),
      );
      // A fetch writes usage and an audit event: it cannot be served either.
      replies.push(await rest(base, "GET", "/api/keys/provider/groq", undefined, { token }));
    }
    for (const r of replies) {
      expect([r.status, r.body?.error?.code]).toEqual([503, "unavailable"]);
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    }
    // Readiness reflects it (the probe writes), so a load balancer stops sending traffic here.
    await new Promise((r) => setTimeout(r, 1100)); // past the readiness cache
    const ready = await rest(base, "GET", "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body.error.message).toContain("store");
    // No storage fault happened before this test's, so the whole log is the evidence.
    const logs = stack.logs();
    expect(logs).not.toContain("cannot rollback");
    const faultLines = logs.split("\n").filter((l) => l.includes("storage failure"));
    expect(faultLines.length).toBe(1);
    expect(faultLines[0]).toMatch(/SQLITE_(IOERR|READONLY|PERM|CANTOPEN)|disk I\/O|readonly|read-only/i);
    expect(logs).not.toContain('"level":50,"time"' + ',"msg":"unexpected error"');

    setImmutable(false);
    files = [];
    // Recovery needs no restart: readiness returns once the fault window has passed.
    let readyAgain = false;
    for (let i = 0; i < 40 && !readyAgain; i++) {
      await new Promise((r) => setTimeout(r, 250));
      readyAgain = (await rest(base, "GET", "/readyz")).status === 200;
    }
    expect(readyAgain).toBe(true);
    expect((await rest(base, "GET", "/api/keys/provider/groq", undefined, { token })).status).toBe(200);
  }, 60_000);
});

describe("start-up", () => {
  it("a data directory that cannot be opened names WALLET_DATA_DIR and the path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wallet-badopen-"));
    const notADir = join(dir, "a-file");
    writeFileSync(notADir, "not a directory");
    const { openSqliteStore } = await import("../src/store/sqlite/sqlite-store.ts");
    expect(() => openSqliteStore(join(notADir, "data"))).toThrow(/WALLET_DATA_DIR.*a-file\/data\/wallet\.db/);
    rmSync(dir, { recursive: true, force: true });
  });
});
