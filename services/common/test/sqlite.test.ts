// The SQLite helpers under storage faults: the real error surfaces (not a failed ROLLBACK),
// storage faults are recognisable as "unavailable", start-up errors name the setting and the
// path, and deleted content leaves the files.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AppError } from "../src/errors.ts";
import { checkpoint, isStorageUnavailable, openSqlite, storageUnavailable, transaction } from "../src/sqlite.ts";

const dir = mkdtempSync(join(tmpdir(), "cvw-common-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MIGRATIONS = ["CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB NOT NULL) STRICT"];

describe("transaction", () => {
  it("reports a full disk as the real error, not 'cannot rollback', and as storage unavailable", () => {
    const db = openSqlite(join(dir, "full", "a.db"), MIGRATIONS);
    const pages = (db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count;
    // The database may not grow past its current size: the next large write is SQLITE_FULL,
    // after which SQLite has already rolled the transaction back itself.
    db.exec(`PRAGMA max_page_count = ${pages}`);
    let caught: unknown;
    try {
      transaction(db, () => db.prepare("INSERT INTO t (b) VALUES (?)").run(randomBytes(64 * 1024)));
    } catch (error) {
      caught = error;
    }
    expect(String(caught)).toMatch(/full/);
    expect(String(caught)).not.toMatch(/rollback/);
    expect(isStorageUnavailable(caught)).toBe(true);
    const mapped = storageUnavailable(caught, "the key store");
    expect(mapped).toBeInstanceOf(AppError);
    expect(mapped.code).toBe("unavailable");
    expect(mapped.message).toMatch(/the key store .*disk is full/);
    expect(mapped.cause).toBe(caught);
    expect(db.isTransaction).toBe(false);
    db.close();
  });

  it("rolls back when the function throws, and a plain error is not a storage fault", () => {
    const db = openSqlite(join(dir, "rollback.db"), MIGRATIONS);
    expect(() =>
      transaction(db, () => {
        db.prepare("INSERT INTO t (b) VALUES (?)").run(Buffer.from("x"));
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(db.prepare("SELECT COUNT(*) AS n FROM t").get()).toEqual({ n: 0 });
    expect(isStorageUnavailable(new Error("boom"))).toBe(false);
    let constraint: unknown;
    try {
      db.prepare("INSERT INTO t (id, b) VALUES (1, ?), (1, ?)").run(Buffer.from("a"), Buffer.from("b"));
    } catch (error) {
      constraint = error;
    }
    expect(isStorageUnavailable(constraint)).toBe(false);
    db.close();
  });

  it("counts a write lock held by another connection as unavailable", () => {
    const file = join(dir, "busy.db");
    const a = openSqlite(file, MIGRATIONS);
    const b = openSqlite(file, MIGRATIONS);
    b.exec("PRAGMA busy_timeout = 50");
    a.exec("BEGIN IMMEDIATE");
    let caught: unknown;
    try {
      transaction(b, () => b.prepare("INSERT INTO t (b) VALUES (?)").run(Buffer.from("x")));
    } catch (error) {
      caught = error;
    }
    a.exec("ROLLBACK");
    expect(isStorageUnavailable(caught)).toBe(true);
    expect(storageUnavailable(caught).message).toMatch(/locked/);
    a.close();
    b.close();
  });
});

describe("openSqlite", () => {
  it("names the variable and the path when the file cannot be opened", () => {
    const isDir = join(dir, "a-directory");
    mkdirSync(isDir);
    expect(() => openSqlite(isDir, MIGRATIONS, { variable: "CRYPTO_DATA_DIR" })).toThrow(
      new RegExp(`^CRYPTO_DATA_DIR: cannot open the SQLite file ${isDir}: unable to open database file`),
    );
    const underFile = join(dir, "plain-file");
    writeFileSync(underFile, "");
    expect(() => openSqlite(join(underFile, "x", "a.db"), MIGRATIONS, { variable: "WALLET_DATA_DIR" })).toThrow(
      /^WALLET_DATA_DIR: cannot open the SQLite file .*plain-file\/x\/a\.db/,
    );
  });
});

describe("secure delete and checkpoint", () => {
  it("leaves no copy of deleted content in any file of the directory", () => {
    const storeDir = join(dir, "secure");
    const db = openSqlite(join(storeDir, "s.db"), MIGRATIONS, { secureDelete: true });
    const marker = randomBytes(48);
    db.prepare("INSERT INTO t (b) VALUES (?)").run(Buffer.from("keep me"));
    db.prepare("INSERT INTO t (b) VALUES (?)").run(marker);
    const contains = () => readdirSync(storeDir).some((f) => readFileSync(join(storeDir, f)).includes(marker));
    expect(contains()).toBe(true);
    db.prepare("DELETE FROM t WHERE b = ?").run(marker);
    expect(checkpoint(db)).toBe(true);
    expect(contains()).toBe(false);
    db.close();
  });
});
