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
  it("a wallet.db at the version before teams keeps its keys, usage (by token, reveals) and device requests, and gains the team tables", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wallet-migrate-"));
    dirs.push(dir);
    const file = join(dir, "wallet.db");
    // Every migration before the teams one (the fifth).
    const old = openSqlite(file, MIGRATIONS.slice(0, 4));
    const user = "a".repeat(24);
    const keyId = "b".repeat(24);
    const tokenId = "c".repeat(24);
    old
      .prepare("INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)")
      .run(user, "a@example.com", "x", 1);
    old
      .prepare(
        `INSERT INTO api_keys (id, user_id, provider, name, ciphertext, key_version, last4, is_default, created_at, updated_at,
           prefix_provider, reveal_count, last_revealed_at)
         VALUES (?, ?, 'openai', 'work', 'cvw:v1:AAAA', 1, 'abcd', 1, 1, 1, 'anthropic', 2, 5)`,
      )
      .run(keyId, user);
    old.prepare("INSERT INTO key_usage (key_id, day, count, reveals) VALUES (?, '2026-01-01', 3, 2)").run(keyId);
    old
      .prepare("INSERT INTO key_usage_tokens (key_id, day, token_id, count) VALUES (?, '2026-01-01', ?, 3)")
      .run(keyId, tokenId);
    old
      .prepare(
        `INSERT INTO device_requests (id, device_code_hash, user_code_hash, client_id, client_host, client_repository,
           token_name, address, user_agent, scopes, providers, created_at, expires_at, interval_seconds, status)
         VALUES (?, ?, ?, 'cvw', '', '', 'cvw on laptop', '127.0.0.1', 'test', '["keys:read"]', '[]', 1, 9999999999999, 5, 'pending')`,
      )
      .run("d".repeat(24), "e".repeat(64), "f".repeat(64));
    old.close();
    const store = openSqliteStore(dir);
    try {
      expect(await store.keys.get(user, keyId)).toMatchObject({
        name: "work",
        isDefault: true,
        prefixProvider: "anthropic",
        revealCount: 2,
        lastRevealedAt: new Date(5),
      });
      expect(await store.keys.usage(user, keyId, "2026-01-01", "2026-01-01")).toEqual(
        new Map([["2026-01-01", { retrievals: 3, reveals: 2, byToken: { [tokenId]: 3 } }]]),
      );
      expect(await store.deviceRequests.byDeviceCodeHash("e".repeat(64))).toMatchObject({ status: "pending" });
      expect(await store.teams.listForUser(user)).toEqual([]);
      // Usage, per day and per token, still follows its key.
      await store.keys.delete(user, keyId);
      expect(await store.keys.usage(user, keyId, "2026-01-01", "2026-01-01")).toEqual(new Map());
    } finally {
      await store.close();
    }
    const after = openSqlite(file, MIGRATIONS);
    try {
      expect(after.prepare("SELECT COUNT(*) AS n FROM key_usage_tokens").get()).toEqual({ n: 0 });
      expect(after.prepare("PRAGMA foreign_key_check").all()).toEqual([]);
    } finally {
      after.close();
    }
  });
  it("a wallet.db at the version before reminders: its keys owe reminders by their expiry, webhooks go with their person", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wallet-migrate-"));
    dirs.push(dir);
    const file = join(dir, "wallet.db");
    // Every migration before the reminders one (the sixth).
    const old = openSqlite(file, MIGRATIONS.slice(0, 5));
    const user = "a".repeat(24);
    const keyId = "b".repeat(24);
    old
      .prepare("INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)")
      .run(user, "a@example.com", "x", 1);
    old
      .prepare(
        `INSERT INTO api_keys (id, user_id, provider, name, ciphertext, key_version, last4, expires_at, created_at, updated_at)
         VALUES (?, ?, 'openai', 'work', 'cvw:v1:AAAA', 1, 'abcd', 1000, 1, 1)`,
      )
      .run(keyId, user);
    old.close();
    const store = openSqliteStore(dir);
    try {
      const [due] = await store.keys.dueForReminder(new Date(2000), new Date(3000), 10);
      expect(due).toMatchObject({ id: keyId, expiresAt: new Date(1000) });
      expect(due?.notices).toBeUndefined();
      expect(await store.keys.claimNotice(keyId, "expired", new Date(2000))).toBe(true);
      await store.webhooks.put({
        id: "c".repeat(24),
        userId: user,
        ciphertext: "cvw:v1:HOOK",
        keyVersion: 1,
        host: "hooks.slack.com",
        hint: "hooks.slack.com…abcd",
        createdAt: new Date(1),
        updatedAt: new Date(1),
      });
      await store.users.delete(user);
      expect(await store.webhooks.get(user)).toBeUndefined();
    } finally {
      await store.close();
    }
    const after = openSqlite(file, MIGRATIONS);
    try {
      expect(after.prepare("PRAGMA foreign_key_check").all()).toEqual([]);
      expect(after.prepare("SELECT COUNT(*) AS n FROM webhooks").get()).toEqual({ n: 0 });
    } finally {
      after.close();
    }
  });
});
