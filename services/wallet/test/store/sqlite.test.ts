import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqlite } from "@cv-wallet/common/sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { MIGRATIONS } from "../../src/store/sqlite/migrations.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { storeContract } from "./contract.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

storeContract("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wallet-store-"));
  dirs.push(dir);
  return openSqliteStore(dir);
});

describe("sqlite migrations", () => {
  it("a wallet.db from before teams keeps its keys and their usage, and gains the team tables", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wallet-migrate-"));
    dirs.push(dir);
    const old = openSqlite(join(dir, "wallet.db"), MIGRATIONS.slice(0, 1));
    old
      .prepare("INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)")
      .run("a".repeat(24), "a@example.com", "x", 1);
    old
      .prepare(
        `INSERT INTO api_keys (id, user_id, provider, name, ciphertext, key_version, last4, is_default, created_at, updated_at)
         VALUES (?, ?, 'openai', 'work', 'cvw:v1:AAAA', 1, 'abcd', 1, 1, 1)`,
      )
      .run("b".repeat(24), "a".repeat(24));
    old.prepare("INSERT INTO key_usage (key_id, day, count) VALUES (?, '2026-01-01', 3)").run("b".repeat(24));
    old.close();
    const store = openSqliteStore(dir);
    try {
      expect(await store.keys.get("a".repeat(24), "b".repeat(24))).toMatchObject({ name: "work", isDefault: true });
      expect(await store.keys.usage("a".repeat(24), "b".repeat(24), "2026-01-01", "2026-01-01")).toEqual(
        new Map([["2026-01-01", 3]]),
      );
      expect(await store.teams.listForUser("a".repeat(24))).toEqual([]);
      // Usage still follows its key.
      await store.keys.delete("a".repeat(24), "b".repeat(24));
      expect(await store.keys.usage("a".repeat(24), "b".repeat(24), "2026-01-01", "2026-01-01")).toEqual(new Map());
    } finally {
      await store.close();
    }
  });
});
