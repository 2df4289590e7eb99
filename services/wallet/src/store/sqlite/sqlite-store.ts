// The embedded store: one SQLite file (WAL) under WALLET_DATA_DIR. Every multi-statement
// change runs in BEGIN IMMEDIATE, so two wallet processes sharing the file stay consistent;
// counters are incremented in SQL, never read-modify-written in JavaScript.
import { join } from "node:path";
import { type DatabaseSync, openSqlite, transaction } from "@cv-wallet/common/sqlite";
import { ATTENTION_STATUSES } from "@cv-wallet/proto/catalog";
import { decodeCursor, encodeCursor, utcDay } from "../cursor.ts";
import { DUPLICATE, duplicate } from "../errors.ts";
import type {
  AuditRecord,
  AuditStore,
  DeviceRequestRecord,
  DeviceRequestStore,
  InvitationRecord,
  KeyListFilter,
  KeyNotice,
  KeyRecord,
  KeyStore,
  MembershipChange,
  MembershipRecord,
  Page,
  SessionRecord,
  SessionStore,
  Store,
  TeamRecord,
  TeamRole,
  TeamStore,
  TokenRecord,
  TokenStore,
  UsageDayRecord,
  UserRecord,
  UserStore,
  ValidationRecord,
  WebhookDeliveryRecord,
  WebhookRecord,
  WebhookStore,
} from "../port.ts";
import { MIGRATIONS } from "./migrations.ts";

type Row = Record<string, unknown>;
type Param = string | number | null;

const ms = (d: Date | undefined | null): number | null => (d ? d.getTime() : null);
const date = (v: unknown): Date | undefined => (v === null || v === undefined ? undefined : new Date(Number(v)));

/** SQLite reports a broken UNIQUE constraint as "UNIQUE constraint failed: table.col, …". */
function uniqueViolation(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : "";
  const m = /UNIQUE constraint failed: (.+)$/.exec(message);
  return m?.[1];
}

function rethrowDuplicate(error: unknown): never {
  const columns = uniqueViolation(error);
  if (columns === undefined) throw error;
  if (columns.includes("users.email")) throw duplicate(DUPLICATE.email, error);
  if (columns.includes("api_keys.name")) throw duplicate(DUPLICATE.keyName, error);
  if (columns === "api_keys.user_id, api_keys.provider") throw duplicate(DUPLICATE.keyDefault, error);
  if (columns.includes("access_tokens.hash")) throw duplicate(DUPLICATE.token, error);
  if (columns.includes("device_requests.")) throw duplicate(DUPLICATE.deviceCode, error);
  throw duplicate(DUPLICATE.id, error);
}

export function openSqliteStore(dataDir: string, file = "wallet.db"): Store {
  const path = dataDir === ":memory:" ? ":memory:" : join(dataDir, file);
  let db: DatabaseSync;
  try {
    db = openSqlite(path, MIGRATIONS);
  } catch (error) {
    // "unable to open database file" alone does not say which file or which setting.
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`WALLET_DATA_DIR: cannot open the wallet database ${path} (${reason})`, { cause: error });
  }
  // Deleted rows are overwritten with zeros, not just unlinked: a deleted key's ciphertext
  // must not stay readable in free pages.
  db.exec("PRAGMA secure_delete = ON");
  const probe = db.prepare("INSERT OR REPLACE INTO health_probe (id, at) VALUES (1, ?)");
  const auditStore = audit(db);
  return {
    kind: "sqlite",
    users: users(db),
    teams: teams(db),
    sessions: sessions(db),
    tokens: tokens(db),
    keys: keys(db, auditStore.insert),
    audit: auditStore,
    deviceRequests: deviceRequests(db),
    webhooks: webhooks(db),
    // Readiness: a real (tiny) write, so a full disk or a read-only file shows up here.
    ping: async () => {
      transaction(db, () => probe.run(Date.now()));
    },
    close: async () => {
      if (db.isOpen) db.close();
    },
  };
}

/**
 * After key material is deleted: secure_delete (on for the connection) has zeroed the freed
 * cells in the database pages, but the WAL still holds earlier page images with the
 * ciphertext. A TRUNCATE checkpoint copies the current pages back and empties the WAL. It
 * cannot finish while another connection reads an older snapshot; SQLite then leaves frames
 * behind, which the next checkpoint (or the next deletion) removes.
 */
function shred(db: DatabaseSync): void {
  db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get();
}

const toUser = (r: Row): UserRecord => ({
  id: String(r.id),
  email: String(r.email),
  passwordHash: String(r.password_hash),
  createdAt: date(r.created_at)!,
});

function users(db: DatabaseSync): UserStore {
  const insert = db.prepare("INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)");
  const byEmail = db.prepare("SELECT * FROM users WHERE email = ?");
  const byId = db.prepare("SELECT * FROM users WHERE id = ?");
  const del = db.prepare("DELETE FROM users WHERE id = ?");
  // api_keys.user_id is an owner partition (a user or a team), not a foreign key.
  const delKeys = db.prepare("DELETE FROM api_keys WHERE user_id = ? AND team_id IS NULL");
  const setHash = db.prepare("UPDATE users SET password_hash = ? WHERE id = ?");
  return {
    async setPasswordHash(id, hash) {
      setHash.run(hash, id);
    },
    async create(u) {
      try {
        insert.run(u.id, u.email, u.passwordHash, u.createdAt.getTime());
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async byEmail(email) {
      const r = byEmail.get(email) as Row | undefined;
      return r && toUser(r);
    },
    async byId(id) {
      const r = byId.get(id) as Row | undefined;
      return r && toUser(r);
    },
    // The user's keys (and by cascade their usage) explicitly; ON DELETE CASCADE removes
    // sessions, tokens, audit events, team memberships and the webhook.
    async delete(id) {
      transaction(db, () => {
        delKeys.run(id);
        del.run(id);
      });
      shred(db);
    },
  };
}

const toSession = (r: Row): SessionRecord => ({
  id: String(r.id),
  secretHash: String(r.secret_hash),
  userId: String(r.user_id),
  createdAt: date(r.created_at)!,
  expiresAt: date(r.expires_at)!,
  address: String(r.address ?? ""),
  userAgent: String(r.user_agent ?? ""),
  lastSeenAt: date(r.last_seen_at),
});

function sessions(db: DatabaseSync): SessionStore {
  const insert = db.prepare(
    `INSERT INTO sessions (id, secret_hash, user_id, created_at, expires_at, address, user_agent, last_seen_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const listByUser = db.prepare(
    "SELECT * FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY COALESCE(last_seen_at, created_at) DESC, id DESC",
  );
  const delOwned = db.prepare("DELETE FROM sessions WHERE user_id = ? AND id = ?");
  const delOthers = db.prepare("DELETE FROM sessions WHERE user_id = ? AND id <> ?");
  const touch = db.prepare("UPDATE sessions SET last_seen_at = ? WHERE id = ?");
  const purge = db.prepare("DELETE FROM sessions WHERE expires_at <= ?");
  const find = db.prepare("SELECT * FROM sessions WHERE secret_hash = ? AND expires_at > ?");
  const del = db.prepare("DELETE FROM sessions WHERE id = ?");
  return {
    async create(s) {
      // Expired sessions are removed as new ones arrive (MongoDB has a TTL index for this).
      purge.run(s.createdAt.getTime());
      insert.run(
        s.id,
        s.secretHash,
        s.userId,
        s.createdAt.getTime(),
        s.expiresAt.getTime(),
        s.address ?? "",
        s.userAgent ?? "",
        ms(s.lastSeenAt),
      );
    },
    async bySecretHash(secretHash, now) {
      const r = find.get(secretHash, now.getTime()) as Row | undefined;
      return r && toSession(r);
    },
    async delete(id) {
      del.run(id);
    },
    async listByUser(userId, now) {
      return (listByUser.all(userId, now.getTime()) as Row[]).map(toSession);
    },
    async deleteOwned(userId, id) {
      return Number(delOwned.run(userId, id).changes) > 0;
    },
    async deleteOthers(userId, keepId) {
      return Number(delOthers.run(userId, keepId).changes);
    },
    async touch(id, at) {
      touch.run(at.getTime(), id);
    },
  };
}

function tokens(db: DatabaseSync): TokenStore {
  const toToken = (r: Row): TokenRecord => ({
    id: String(r.id),
    userId: String(r.user_id),
    name: String(r.name),
    hash: String(r.hash),
    prefix: String(r.prefix),
    scopes: JSON.parse(String(r.scopes)) as string[],
    providers: JSON.parse(String(r.providers)) as string[],
    createdAt: date(r.created_at)!,
    expiresAt: date(r.expires_at)!,
    lastUsedAt: date(r.last_used_at),
    revokedAt: date(r.revoked_at),
    teamId: r.team_id === null || r.team_id === undefined ? undefined : String(r.team_id),
    parentId: r.parent_id === null || r.parent_id === undefined ? undefined : String(r.parent_id),
  });
  const insert = db.prepare(
    `INSERT INTO access_tokens (id, user_id, name, hash, prefix, scopes, providers, created_at, expires_at, team_id,
       parent_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const byHash = db.prepare("SELECT * FROM access_tokens WHERE hash = ?");
  // The owner's columns under prefixed names; user_email is NULL when the user is gone.
  const byHashWithUser = db.prepare(
    `SELECT t.*, u.email AS user_email, u.password_hash AS user_password_hash, u.created_at AS user_created_at
       FROM access_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.hash = ?`,
  );
  const list = db.prepare("SELECT * FROM access_tokens WHERE user_id = ? ORDER BY created_at DESC, id DESC");
  const get = db.prepare("SELECT * FROM access_tokens WHERE user_id = ? AND id = ?");
  const revokeRoot = db.prepare(
    "UPDATE access_tokens SET revoked_at = ? WHERE user_id = ? AND id = ? AND revoked_at IS NULL",
  );
  // Every descendant, through already revoked ones too (their children may be newer).
  const revokeDescendants = db.prepare(
    `WITH RECURSIVE tree(id) AS (
       SELECT id FROM access_tokens WHERE parent_id = ? AND user_id = ?
       UNION SELECT t.id FROM access_tokens t JOIN tree ON t.parent_id = tree.id
     )
     UPDATE access_tokens SET revoked_at = ? WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL RETURNING id`,
  );
  const touch = db.prepare("UPDATE access_tokens SET last_used_at = ? WHERE id = ?");
  return {
    async create(t) {
      try {
        insert.run(
          t.id,
          t.userId,
          t.name,
          t.hash,
          t.prefix,
          JSON.stringify(t.scopes),
          JSON.stringify(t.providers),
          t.createdAt.getTime(),
          t.expiresAt.getTime(),
          t.teamId ?? null,
          t.parentId ?? null,
        );
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async byHash(hash) {
      const r = byHash.get(hash) as Row | undefined;
      return r && toToken(r);
    },
    async byHashWithUser(hash) {
      const r = byHashWithUser.get(hash) as Row | undefined;
      if (!r) return undefined;
      const user =
        r.user_email === null
          ? undefined
          : toUser({
              id: r.user_id,
              email: r.user_email,
              password_hash: r.user_password_hash,
              created_at: r.user_created_at,
            });
      return { token: toToken(r), user };
    },
    async list(userId) {
      return (list.all(userId) as Row[]).map(toToken);
    },
    async get(userId, id) {
      const r = get.get(userId, id) as Row | undefined;
      return r && toToken(r);
    },
    async revoke(userId, id, at) {
      return transaction(db, () => {
        if (Number(revokeRoot.run(at.getTime(), userId, id).changes) === 0) return [];
        const below = revokeDescendants.all(id, userId, at.getTime()) as Row[];
        return [id, ...below.map((r) => String(r.id))];
      });
    },
    async touch(id, at) {
      touch.run(at.getTime(), id);
    },
  };
}

/** Each reminder's column in api_keys: the only names that ever reach SQL text. */
const NOTICE_COLUMNS: Readonly<Record<KeyNotice, string>> = {
  expiring: "notice_expiring_at",
  expired: "notice_expired_at",
  invalid: "notice_invalid_at",
};

function toNotices(r: Row): KeyRecord["notices"] {
  const notices: NonNullable<KeyRecord["notices"]> = {};
  for (const [notice, column] of Object.entries(NOTICE_COLUMNS) as [KeyNotice, string][]) {
    const at = date(r[column]);
    if (at) notices[notice] = at;
  }
  return Object.keys(notices).length > 0 ? notices : undefined;
}

function toKey(r: Row): KeyRecord {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    teamId: r.team_id === null ? undefined : String(r.team_id),
    provider: String(r.provider),
    name: String(r.name),
    ciphertext: String(r.ciphertext),
    keyVersion: Number(r.key_version),
    last4: String(r.last4),
    baseUrl: r.base_url === null ? undefined : String(r.base_url),
    expiresAt: date(r.expires_at),
    isDefault: Number(r.is_default) === 1,
    usageCount: Number(r.usage_count),
    lastUsedAt: date(r.last_used_at),
    prefixProvider: r.prefix_provider == null ? undefined : String(r.prefix_provider),
    revealCount: Number(r.reveal_count ?? 0),
    lastRevealedAt: date(r.last_revealed_at),
    validation: r.validation === null ? undefined : parseValidation(String(r.validation)),
    notices: toNotices(r),
    createdAt: date(r.created_at)!,
    updatedAt: date(r.updated_at)!,
  };
}

function parseValidation(text: string): ValidationRecord {
  const v = JSON.parse(text) as ValidationRecord & { checkedAt?: string };
  return { ...v, checkedAt: v.checkedAt ? new Date(v.checkedAt) : undefined };
}

function keys(db: DatabaseSync, insertEvent: (e: AuditRecord) => void): KeyStore {
  const insert = db.prepare(
    `INSERT INTO api_keys (id, user_id, provider, name, ciphertext, key_version, last4, base_url, expires_at,
       is_default, usage_count, last_used_at, validation, validation_status, validation_checked_at, created_at, updated_at,
       prefix_provider, reveal_count, last_revealed_at, team_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const clearDefault = db.prepare(
    "UPDATE api_keys SET is_default = 0 WHERE user_id = ? AND provider = ? AND is_default = 1 AND id <> ?",
  );
  const get = db.prepare("SELECT * FROM api_keys WHERE user_id = ? AND id = ?");
  const byId = db.prepare("SELECT * FROM api_keys WHERE id = ?");
  const byName = db.prepare("SELECT * FROM api_keys WHERE user_id = ? AND provider = ? AND name = ?");
  const preferred = db.prepare(
    "SELECT * FROM api_keys WHERE user_id = ? AND provider = ? ORDER BY is_default DESC, created_at DESC, id DESC LIMIT 1",
  );
  const hasDefault = db.prepare("SELECT 1 FROM api_keys WHERE user_id = ? AND provider = ? AND is_default = 1");
  const del = db.prepare("DELETE FROM api_keys WHERE user_id = ? AND id = ?");
  const bump = db.prepare(
    "UPDATE api_keys SET usage_count = usage_count + 1, last_used_at = ? WHERE user_id = ? AND id = ? RETURNING usage_count",
  );
  const bumpDay = db.prepare(
    "INSERT INTO key_usage (key_id, day, count) VALUES (?, ?, 1) ON CONFLICT (key_id, day) DO UPDATE SET count = count + 1",
  );
  // The same two counters for n uses of one key at once (a group commit's uses of that key).
  const bumpBy = db.prepare(
    "UPDATE api_keys SET usage_count = usage_count + ?, last_used_at = ? WHERE user_id = ? AND id = ? RETURNING usage_count",
  );
  const bumpDayBy = db.prepare(
    "INSERT INTO key_usage (key_id, day, count) VALUES (?, ?, ?) ON CONFLICT (key_id, day) DO UPDATE SET count = count + excluded.count",
  );
  const bumpTokenDayBy = db.prepare(
    `INSERT INTO key_usage_tokens (key_id, day, token_id, count) VALUES (?, ?, ?, ?)
     ON CONFLICT (key_id, day, token_id) DO UPDATE SET count = count + excluded.count`,
  );
  const bumpReveal = db.prepare(
    "UPDATE api_keys SET reveal_count = reveal_count + 1, last_revealed_at = ? WHERE user_id = ? AND id = ? RETURNING reveal_count",
  );
  const bumpRevealDay = db.prepare(
    "INSERT INTO key_usage (key_id, day, count, reveals) VALUES (?, ?, 0, 1) ON CONFLICT (key_id, day) DO UPDATE SET reveals = reveals + 1",
  );
  const usage = db.prepare(
    `SELECT u.day, u.count, u.reveals FROM key_usage u JOIN api_keys k ON k.id = u.key_id
     WHERE k.user_id = ? AND u.key_id = ? AND u.day >= ? AND u.day <= ?`,
  );
  const usageTokens = db.prepare(
    `SELECT t.day, t.token_id, t.count FROM key_usage_tokens t JOIN api_keys k ON k.id = t.key_id
     WHERE k.user_id = ? AND t.key_id = ? AND t.day >= ? AND t.day <= ?`,
  );
  const setValidation = db.prepare(
    "UPDATE api_keys SET validation = ?, validation_status = ?, validation_checked_at = ? WHERE user_id = ? AND id = ?",
  );
  const due = db.prepare(
    `SELECT * FROM api_keys WHERE validation_checked_at IS NULL OR validation_checked_at < ?
     ORDER BY COALESCE(validation_checked_at, 0), id LIMIT ?`,
  );
  // Written to match api_keys_reminder_due's WHERE (SQLite uses a partial index only then), and
  // bounded by the later of the two instants so the scan walks that index in expiry order.
  const dueReminder = db.prepare(
    `SELECT * FROM api_keys
      WHERE expires_at IS NOT NULL AND (notice_expiring_at IS NULL OR notice_expired_at IS NULL)
        AND expires_at <= MAX(?1, ?2)
        AND ((expires_at <= ?2 AND notice_expiring_at IS NULL) OR (expires_at <= ?1 AND notice_expired_at IS NULL))
      ORDER BY expires_at, id LIMIT ?3`,
  );
  const claimNotice = Object.fromEntries(
    Object.entries(NOTICE_COLUMNS).map(([notice, column]) => [
      notice,
      db.prepare(`UPDATE api_keys SET ${column} = ? WHERE id = ? AND ${column} IS NULL`),
    ]),
  ) as Record<KeyNotice, ReturnType<DatabaseSync["prepare"]>>;
  const releaseNotice = Object.fromEntries(
    Object.entries(NOTICE_COLUMNS).map(([notice, column]) => [
      notice,
      db.prepare(`UPDATE api_keys SET ${column} = NULL WHERE id = ? AND ${column} IS NOT NULL`),
    ]),
  ) as Record<KeyNotice, ReturnType<DatabaseSync["prepare"]>>;
  const pageCiphertexts = db.prepare(
    "SELECT id, user_id AS userId, team_id AS teamId, ciphertext, key_version AS keyVersion FROM api_keys WHERE id > ? ORDER BY id LIMIT ?",
  );
  const replaceCiphertext = db.prepare(
    "UPDATE api_keys SET ciphertext = ?, key_version = ? WHERE id = ? AND ciphertext = ?",
  );
  const countBelow = db.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE user_id = ? AND key_version < ?");
  const validationJson = (v: ValidationRecord | undefined) => (v ? JSON.stringify(v) : null);

  // Group commit: the uses recorded in one turn of the event loop (concurrent retrievals)
  // share one transaction, so the WAL is written once for all of them. Each caller is
  // answered only after the commit; counters and audit events still commit together.
  interface PendingUse {
    userId: string;
    id: string;
    at: Date;
    event?: AuditRecord | undefined;
    tokenId?: string | undefined;
    resolve: (count: number) => void;
    reject: (error: unknown) => void;
  }
  let pendingUses: PendingUse[] = [];
  let useFlushScheduled = false;
  const applyUse = (u: PendingUse): number => {
    const r = bump.get(u.at.getTime(), u.userId, u.id) as Row | undefined;
    if (!r) return 0;
    bumpDay.run(u.id, utcDay(u.at));
    if (u.tokenId) bumpTokenDayBy.run(u.id, utcDay(u.at), u.tokenId, 1);
    if (u.event) insertEvent(u.event);
    return Number(r.usage_count);
  };
  /**
   * The whole batch, each key's counters bumped once by its number of uses (concurrent
   * retrievals of one key are the common case): the counts each caller gets are exactly
   * what one-at-a-time bumps in batch order would have returned. Every use keeps its own
   * audit event.
   */
  const applyBatch = (batch: PendingUse[]): number[] => {
    const counts = new Array<number>(batch.length).fill(0);
    const groups = new Map<string, number[]>();
    for (const [i, u] of batch.entries()) {
      const key = `${u.userId}\u0000${u.id}`;
      const group = groups.get(key);
      if (group) group.push(i);
      else groups.set(key, [i]);
    }
    const found: boolean[] = new Array<boolean>(batch.length).fill(false);
    for (const group of groups.values()) {
      const first = batch[group[0]!]!;
      const last = batch[group.at(-1)!]!;
      const r = bumpBy.get(group.length, last.at.getTime(), first.userId, first.id) as Row | undefined;
      if (!r) continue;
      const final = Number(r.usage_count);
      const perDay = new Map<string, number>();
      const perTokenDay = new Map<string, number>();
      for (const [j, i] of group.entries()) {
        counts[i] = final - (group.length - 1 - j);
        found[i] = true;
        const day = utcDay(batch[i]!.at);
        perDay.set(day, (perDay.get(day) ?? 0) + 1);
        const tokenId = batch[i]!.tokenId;
        if (tokenId) perTokenDay.set(`${day}\u0000${tokenId}`, (perTokenDay.get(`${day}\u0000${tokenId}`) ?? 0) + 1);
      }
      for (const [day, n] of perDay) bumpDayBy.run(first.id, day, n);
      for (const [dayToken, n] of perTokenDay) {
        const [day, tokenId] = dayToken.split("\u0000") as [string, string];
        bumpTokenDayBy.run(first.id, day, tokenId, n);
      }
    }
    for (const [i, u] of batch.entries()) if (found[i] && u.event) insertEvent(u.event);
    return counts;
  };
  const flushUses = () => {
    useFlushScheduled = false;
    const batch = pendingUses;
    pendingUses = [];
    let counts: number[];
    try {
      counts = transaction(db, () => (batch.length === 1 ? [applyUse(batch[0]!)] : applyBatch(batch)));
    } catch {
      // One bad item must not fail the others: fall back to one transaction each.
      for (const u of batch) {
        try {
          u.resolve(transaction(db, () => applyUse(u)));
        } catch (error) {
          u.reject(error);
        }
      }
      return;
    }
    for (const [i, u] of batch.entries()) u.resolve(counts[i]!);
  };

  return {
    async create(k) {
      try {
        transaction(db, () => {
          if (k.isDefault) clearDefault.run(k.userId, k.provider, k.id);
          insert.run(
            k.id,
            k.userId,
            k.provider,
            k.name,
            k.ciphertext,
            k.keyVersion,
            k.last4,
            k.baseUrl ?? null,
            ms(k.expiresAt),
            k.isDefault ? 1 : 0,
            k.usageCount,
            ms(k.lastUsedAt),
            validationJson(k.validation),
            k.validation?.status ?? null,
            ms(k.validation?.checkedAt),
            k.createdAt.getTime(),
            k.updatedAt.getTime(),
            k.prefixProvider ?? null,
            k.revealCount ?? 0,
            ms(k.lastRevealedAt),
            k.teamId ?? null,
          );
        });
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async get(userId, id) {
      const r = get.get(userId, id) as Row | undefined;
      return r && toKey(r);
    },
    async byId(id) {
      const r = byId.get(id) as Row | undefined;
      return r && toKey(r);
    },
    async forProvider(userId, provider, name) {
      const r = (name ? byName.get(userId, provider, name) : preferred.get(userId, provider)) as Row | undefined;
      return r && toKey(r);
    },
    async hasDefault(userId, provider) {
      return hasDefault.get(userId, provider) !== undefined;
    },
    async list(userId, filter, pageSize, cursorText) {
      const cursor = decodeCursor(cursorText);
      const where: string[] = ["user_id = ?"];
      const params: Param[] = [userId];
      addKeyFilter(filter, where, params);
      if (cursor) {
        where.push("(created_at < ? OR (created_at = ? AND id < ?))");
        params.push(cursor.time, cursor.time, cursor.id);
      }
      const rows = db
        .prepare(`SELECT * FROM api_keys WHERE ${where.join(" AND ")} ORDER BY created_at DESC, id DESC LIMIT ?`)
        .all(...params, pageSize + 1) as Row[];
      return page(rows.map(toKey), pageSize, (k) => encodeCursor(k.createdAt, k.id));
    },
    async update(userId, id, patch) {
      try {
        return transaction(db, () => {
          const current = get.get(userId, id) as Row | undefined;
          if (!current) return undefined;
          const sets: string[] = ["updated_at = ?"];
          const params: Param[] = [patch.updatedAt.getTime()];
          const set = (column: string, value: Param) => {
            sets.push(`${column} = ?`);
            params.push(value);
          };
          if (patch.provider !== undefined) set("provider", patch.provider);
          if (patch.name !== undefined) set("name", patch.name);
          if (patch.ciphertext !== undefined) set("ciphertext", patch.ciphertext);
          if (patch.keyVersion !== undefined) set("key_version", patch.keyVersion);
          if (patch.last4 !== undefined) set("last4", patch.last4);
          if (patch.expiresAt !== undefined) {
            // A new expiry date (or none) re-arms both expiry reminders.
            set("expires_at", ms(patch.expiresAt));
            set(NOTICE_COLUMNS.expiring, null);
            set(NOTICE_COLUMNS.expired, null);
          }
          if (patch.baseUrl !== undefined) set("base_url", patch.baseUrl);
          if (patch.isDefault !== undefined) set("is_default", patch.isDefault ? 1 : 0);
          if (patch.prefixProvider !== undefined) set("prefix_provider", patch.prefixProvider);
          if (patch.validation !== undefined) {
            set("validation", validationJson(patch.validation));
            set("validation_status", patch.validation.status);
            set("validation_checked_at", ms(patch.validation.checkedAt));
            // A new secret: whether the old one was invalid no longer matters.
            set(NOTICE_COLUMNS.invalid, null);
          }
          if (patch.isDefault) clearDefault.run(userId, patch.provider ?? String(current.provider), id);
          db.prepare(`UPDATE api_keys SET ${sets.join(", ")} WHERE user_id = ? AND id = ?`).run(...params, userId, id);
          return toKey(get.get(userId, id) as Row);
        });
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async delete(userId, id) {
      const deleted = Number(del.run(userId, id).changes) > 0;
      if (deleted) shred(db);
      return deleted;
    },
    recordUse(userId, id, at, event, tokenId) {
      return new Promise<number>((resolve, reject) => {
        pendingUses.push({ userId, id, at, event, tokenId, resolve, reject });
        if (!useFlushScheduled) {
          useFlushScheduled = true;
          setImmediate(flushUses);
        }
      });
    },
    async recordReveal(userId, id, at, event) {
      return transaction(db, () => {
        const r = bumpReveal.get(at.getTime(), userId, id) as Row | undefined;
        if (!r) return 0;
        bumpRevealDay.run(id, utcDay(at));
        if (event) insertEvent(event);
        return Number(r.reveal_count);
      });
    },
    async usage(userId, id, fromDay, toDay) {
      const days = new Map<string, UsageDayRecord>();
      for (const r of usage.all(userId, id, fromDay, toDay) as Row[]) {
        days.set(String(r.day), { retrievals: Number(r.count), reveals: Number(r.reveals), byToken: {} });
      }
      for (const r of usageTokens.all(userId, id, fromDay, toDay) as Row[]) {
        const day = days.get(String(r.day));
        if (day) day.byToken[String(r.token_id)] = Number(r.count);
      }
      return days;
    },
    async setValidation(userId, id, v) {
      setValidation.run(validationJson(v), v.status, ms(v.checkedAt), userId, id);
    },
    async dueForValidation(before, limit) {
      return (due.all(before.getTime(), limit) as Row[]).map(toKey);
    },
    async dueForReminder(now, windowEnd, limit) {
      return (dueReminder.all(now.getTime(), windowEnd.getTime(), limit) as Row[]).map(toKey);
    },
    async claimNotice(id, notice, at) {
      return Number(claimNotice[notice].run(at.getTime(), id).changes) === 1;
    },
    async releaseNotice(id, notice) {
      releaseNotice[notice].run(id);
    },
    async pageCiphertexts(afterId, limit) {
      return (pageCiphertexts.all(afterId, limit) as Row[]).map((r) => ({
        id: String(r.id),
        userId: String(r.userId),
        teamId: r.teamId === null ? undefined : String(r.teamId),
        ciphertext: String(r.ciphertext),
        keyVersion: Number(r.keyVersion),
      }));
    },
    async replaceCiphertext(id, expected, next) {
      return replaceCiphertext.run(next.ciphertext, next.keyVersion, id, expected).changes === 1;
    },
    async countBelowVersion(userId, version) {
      return Number((countBelow.get(userId, version) as Row).n);
    },
  };
}

function addKeyFilter(filter: KeyListFilter, where: string[], params: Param[]): void {
  if (filter.provider) {
    where.push("provider = ?");
    params.push(filter.provider);
  }
  if (filter.providersIn && filter.providersIn.length > 0) {
    where.push(`provider IN (${filter.providersIn.map(() => "?").join(", ")})`);
    params.push(...filter.providersIn);
  }
  if (filter.expiringBefore) {
    where.push("expires_at IS NOT NULL AND expires_at <= ?");
    params.push(filter.expiringBefore.getTime());
  }
  if (filter.needsAttentionBefore) {
    const statuses = ATTENTION_STATUSES.map(() => "?").join(", ");
    where.push(`(validation_status IN (${statuses}) OR (expires_at IS NOT NULL AND expires_at <= ?))`);
    params.push(...ATTENTION_STATUSES, filter.needsAttentionBefore.getTime());
  }
}

function page<T>(items: T[], pageSize: number, cursorOf: (item: T) => string): Page<T> {
  if (items.length <= pageSize) return { items };
  const kept = items.slice(0, pageSize);
  return { items: kept, next: cursorOf(kept[kept.length - 1]!) };
}

function audit(db: DatabaseSync): AuditStore & { insert: (e: AuditRecord) => void } {
  const insert = db.prepare(
    `INSERT INTO audit_events (id, user_id, action, actor_type, actor_id, actor_name, target_type, target_id,
       target_name, time, address, user_agent, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const toEvent = (r: Row): AuditRecord => ({
    id: String(r.id),
    userId: String(r.user_id),
    action: String(r.action),
    actor: { type: String(r.actor_type), id: String(r.actor_id), name: String(r.actor_name) },
    target: { type: String(r.target_type), id: String(r.target_id), name: String(r.target_name) },
    time: date(r.time)!,
    address: String(r.address),
    userAgent: String(r.user_agent),
    details: JSON.parse(String(r.details)) as Record<string, string>,
  });
  const insertTeam = db.prepare(
    `INSERT INTO team_audit_events (id, team_id, action, actor_type, actor_id, actor_name, actor_user_id, target_type,
       target_id, target_name, time, address, user_agent, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const toTeamEvent = (r: Row): AuditRecord => ({
    ...toEvent({ ...r, user_id: r.team_id }),
    teamId: String(r.team_id),
    actor: {
      type: String(r.actor_type),
      id: String(r.actor_id),
      name: String(r.actor_name),
      userId: r.actor_user_id === null ? undefined : String(r.actor_user_id),
    },
  });
  const insertEvent = (e: AuditRecord) => {
    if (e.teamId !== undefined) {
      insertTeam.run(
        e.id,
        e.teamId,
        e.action,
        e.actor.type,
        e.actor.id,
        e.actor.name,
        e.actor.userId ?? null,
        e.target.type,
        e.target.id,
        e.target.name,
        e.time.getTime(),
        e.address,
        e.userAgent,
        JSON.stringify(e.details),
      );
      return;
    }
    insert.run(
      e.id,
      e.userId,
      e.action,
      e.actor.type,
      e.actor.id,
      e.actor.name,
      e.target.type,
      e.target.id,
      e.target.name,
      e.time.getTime(),
      e.address,
      e.userAgent,
      JSON.stringify(e.details),
    );
  };
  // In batches, so a large backlog never holds the write lock for long.
  const pruneBatch = db.prepare(
    "DELETE FROM audit_events WHERE rowid IN (SELECT rowid FROM audit_events WHERE time < ? LIMIT 5000)",
  );
  // Team logs age out by the same rule.
  const pruneTeamBatch = db.prepare(
    "DELETE FROM team_audit_events WHERE rowid IN (SELECT rowid FROM team_audit_events WHERE time < ? LIMIT 5000)",
  );
  /** One page of a log's matching events, newest first by (time, id), after the page token. */
  const newestEvents = (
    table: "audit_events" | "team_audit_events",
    where: string[],
    params: Param[],
    pageSize: number,
    cursorText: string | undefined,
    toRecord: (r: Row) => AuditRecord,
  ) => {
    const cursor = decodeCursor(cursorText);
    if (cursor) {
      where.push("(time < ? OR (time = ? AND id < ?))");
      params.push(cursor.time, cursor.time, cursor.id);
    }
    const rows = db
      .prepare(`SELECT * FROM ${table} WHERE ${where.join(" AND ")} ORDER BY time DESC, id DESC LIMIT ?`)
      .all(...params, pageSize + 1) as Row[];
    return page(rows.map(toRecord), pageSize, (e) => encodeCursor(e.time, e.id));
  };
  return {
    insert: insertEvent,
    async append(e) {
      insertEvent(e);
    },
    async listForTarget(userId, targetId, actions, limit) {
      if (actions.length === 0) return [];
      const rows = db
        .prepare(
          `SELECT * FROM audit_events WHERE user_id = ? AND target_id = ? AND action IN (${actions.map(() => "?").join(", ")})
           ORDER BY time DESC, id DESC LIMIT ?`,
        )
        .all(userId, targetId, ...actions, limit) as Row[];
      // A team's id is its key's owner partition: its events are in the team's log.
      const teamRows = db
        .prepare(
          `SELECT * FROM team_audit_events WHERE team_id = ? AND target_id = ? AND action IN (${actions.map(() => "?").join(", ")})
           ORDER BY time DESC, id DESC LIMIT ?`,
        )
        .all(userId, targetId, ...actions, limit) as Row[];
      return [...rows.map(toEvent), ...teamRows.map(toTeamEvent)]
        .sort((a, b) => b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : -1))
        .slice(0, limit);
    },
    async prune(before) {
      let total = 0;
      for (;;) {
        const n = Number(pruneBatch.run(before.getTime()).changes);
        const t = Number(pruneTeamBatch.run(before.getTime()).changes);
        total += n + t;
        if (n < 5000 && t < 5000) return total;
        await new Promise((r) => setImmediate(r));
      }
    },
    async list(userId, action, pageSize, cursorText, range) {
      const where = ["user_id = ?"];
      const params: Param[] = [userId];
      if (action) {
        where.push("action = ?");
        params.push(action);
      }
      if (range?.from) {
        where.push("time >= ?");
        params.push(range.from.getTime());
      }
      if (range?.to) {
        where.push("time < ?");
        params.push(range.to.getTime());
      }
      return newestEvents("audit_events", where, params, pageSize, cursorText, toEvent);
    },
    async listTeam(teamId, filter, pageSize, cursorText) {
      const where = ["team_id = ?"];
      const params: Param[] = [teamId];
      if (filter.action) {
        where.push("action = ?");
        params.push(filter.action);
      }
      if (filter.actorId) {
        where.push("(actor_id = ? OR actor_user_id = ?)");
        params.push(filter.actorId, filter.actorId);
      }
      return newestEvents("team_audit_events", where, params, pageSize, cursorText, toTeamEvent);
    },
  };
}

function teams(db: DatabaseSync): TeamStore {
  const toTeam = (r: Row): TeamRecord => ({ id: String(r.id), name: String(r.name), createdAt: date(r.created_at)! });
  const toMember = (r: Row): MembershipRecord => ({
    teamId: String(r.team_id),
    userId: String(r.user_id),
    role: String(r.role) as TeamRole,
    createdAt: date(r.created_at)!,
  });
  const toInvitation = (r: Row): InvitationRecord => ({
    id: String(r.id),
    teamId: String(r.team_id),
    email: String(r.email),
    role: String(r.role) as TeamRole,
    codeHash: String(r.code_hash),
    invitedBy: String(r.invited_by),
    invitedByEmail: String(r.invited_by_email),
    createdAt: date(r.created_at)!,
    expiresAt: date(r.expires_at)!,
    acceptedAt: date(r.accepted_at),
    acceptedBy: r.accepted_by === null ? undefined : String(r.accepted_by),
  });
  const insertTeam = db.prepare("INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)");
  const insertMember = db.prepare("INSERT INTO team_members (team_id, user_id, role, created_at) VALUES (?, ?, ?, ?)");
  const getTeam = db.prepare("SELECT * FROM teams WHERE id = ?");
  const forUser = db.prepare(
    `SELECT t.*, m.role, (SELECT COUNT(*) FROM team_members c WHERE c.team_id = t.id) AS member_count
       FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = ? ORDER BY t.created_at, t.id`,
  );
  const membership = db.prepare("SELECT * FROM team_members WHERE team_id = ? AND user_id = ?");
  const members = db.prepare(
    `SELECT m.*, u.email FROM team_members m JOIN users u ON u.id = m.user_id
      WHERE m.team_id = ? ORDER BY m.created_at, m.user_id`,
  );
  const owners = db.prepare("SELECT COUNT(*) AS n FROM team_members WHERE team_id = ? AND role = 'owner'");
  const setRole = db.prepare("UPDATE team_members SET role = ? WHERE team_id = ? AND user_id = ?");
  const removeMember = db.prepare("DELETE FROM team_members WHERE team_id = ? AND user_id = ?");
  const delKeys = db.prepare("DELETE FROM api_keys WHERE user_id = ? AND team_id = ?");
  const revokeTokens = db.prepare("UPDATE access_tokens SET revoked_at = ? WHERE team_id = ? AND revoked_at IS NULL");
  const delTeam = db.prepare("DELETE FROM teams WHERE id = ?");
  const insertInvitation = db.prepare(
    `INSERT INTO team_invitations (id, team_id, email, role, code_hash, invited_by, invited_by_email, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const pending = db.prepare(
    `SELECT * FROM team_invitations WHERE team_id = ? AND accepted_at IS NULL AND expires_at > ?
      ORDER BY created_at DESC, id DESC`,
  );
  const byCode = db.prepare("SELECT * FROM team_invitations WHERE code_hash = ?");
  const revoke = db.prepare("DELETE FROM team_invitations WHERE team_id = ? AND id = ? AND accepted_at IS NULL");
  const markAccepted = db.prepare(
    `UPDATE team_invitations SET accepted_at = ?, accepted_by = ?
      WHERE id = ? AND accepted_at IS NULL AND expires_at > ?`,
  );
  const addIfAbsent = db.prepare(
    "INSERT INTO team_members (team_id, user_id, role, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
  );

  /** Runs a membership change in one transaction, refusing one that leaves no owner. */
  const change = (teamId: string, userId: string, apply: () => void, stillOwner: boolean): MembershipChange =>
    transaction(db, () => {
      const current = membership.get(teamId, userId) as Row | undefined;
      if (!current) return "not_found";
      if (current.role === "owner" && !stillOwner && Number((owners.get(teamId) as Row).n) <= 1) return "last_owner";
      apply();
      return "ok";
    });

  return {
    async create(team, owner) {
      transaction(db, () => {
        insertTeam.run(team.id, team.name, team.createdAt.getTime());
        insertMember.run(owner.teamId, owner.userId, owner.role, owner.createdAt.getTime());
      });
    },
    async get(teamId) {
      const r = getTeam.get(teamId) as Row | undefined;
      return r && toTeam(r);
    },
    async listForUser(userId) {
      return (forUser.all(userId) as Row[]).map((r) => ({
        team: toTeam(r),
        role: String(r.role) as TeamRole,
        memberCount: Number(r.member_count),
      }));
    },
    async membership(teamId, userId) {
      const r = membership.get(teamId, userId) as Row | undefined;
      return r && toMember(r);
    },
    async members(teamId) {
      return (members.all(teamId) as Row[]).map((r) => ({ ...toMember(r), email: String(r.email) }));
    },
    async setRole(teamId, userId, role) {
      return change(teamId, userId, () => setRole.run(role, teamId, userId), role === "owner");
    },
    async removeMember(teamId, userId) {
      return change(teamId, userId, () => removeMember.run(teamId, userId), false);
    },
    async delete(teamId, at) {
      // Keys explicitly (their usage by cascade); members, invitations and the team's audit
      // log by cascade from teams.
      return transaction(db, () => {
        delKeys.run(teamId, teamId);
        revokeTokens.run(at.getTime(), teamId);
        return Number(delTeam.run(teamId).changes) > 0;
      });
    },
    async createInvitation(i) {
      try {
        insertInvitation.run(
          i.id,
          i.teamId,
          i.email,
          i.role,
          i.codeHash,
          i.invitedBy,
          i.invitedByEmail,
          i.createdAt.getTime(),
          i.expiresAt.getTime(),
        );
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async pendingInvitations(teamId, now) {
      return (pending.all(teamId, now.getTime()) as Row[]).map(toInvitation);
    },
    async invitationByCodeHash(codeHash) {
      const r = byCode.get(codeHash) as Row | undefined;
      return r && toInvitation(r);
    },
    async revokeInvitation(teamId, id) {
      return Number(revoke.run(teamId, id).changes) > 0;
    },
    async acceptInvitation(id, member, now) {
      return transaction(db, () => {
        if (Number(markAccepted.run(now.getTime(), member.userId, id, now.getTime()).changes) === 0) return "gone";
        addIfAbsent.run(member.teamId, member.userId, member.role, member.createdAt.getTime());
        return "ok";
      });
    },
  };
}

function webhooks(db: DatabaseSync): WebhookStore {
  const toWebhook = (r: Row): WebhookRecord => ({
    id: String(r.id),
    userId: String(r.user_id),
    ciphertext: String(r.ciphertext),
    keyVersion: Number(r.key_version),
    host: String(r.host),
    hint: String(r.hint),
    createdAt: date(r.created_at)!,
    updatedAt: date(r.updated_at)!,
    lastDelivery: r.last_delivery === null ? undefined : parseDelivery(String(r.last_delivery)),
  });
  const get = db.prepare("SELECT * FROM webhooks WHERE user_id = ?");
  // One row per person (the primary key): a new webhook replaces the row, and with it the
  // old one's last delivery.
  const put = db.prepare(
    `INSERT INTO webhooks (user_id, id, ciphertext, key_version, host, hint, created_at, updated_at, last_delivery)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)
     ON CONFLICT (user_id) DO UPDATE SET id = excluded.id, ciphertext = excluded.ciphertext,
       key_version = excluded.key_version, host = excluded.host, hint = excluded.hint,
       created_at = excluded.created_at, updated_at = excluded.updated_at, last_delivery = NULL`,
  );
  const del = db.prepare("DELETE FROM webhooks WHERE user_id = ?");
  const recordDelivery = db.prepare("UPDATE webhooks SET last_delivery = ? WHERE user_id = ? AND id = ?");
  // For the re-wrap command; user_id is the primary key, so the walk is an index range scan.
  const pageCiphertexts = db.prepare(
    "SELECT id, user_id AS userId, ciphertext, key_version AS keyVersion FROM webhooks WHERE user_id > ? ORDER BY user_id LIMIT ?",
  );
  const replaceCiphertext = db.prepare(
    "UPDATE webhooks SET ciphertext = ?, key_version = ? WHERE user_id = ? AND ciphertext = ?",
  );
  const countBelow = db.prepare("SELECT COUNT(*) AS n FROM webhooks WHERE user_id = ? AND key_version < ?");
  return {
    async get(userId) {
      const r = get.get(userId) as Row | undefined;
      return r && toWebhook(r);
    },
    async put(w) {
      put.run(w.userId, w.id, w.ciphertext, w.keyVersion, w.host, w.hint, w.createdAt.getTime(), w.updatedAt.getTime());
    },
    async delete(userId) {
      const deleted = Number(del.run(userId).changes) > 0;
      // The URL's ciphertext, like a key's, must not stay in free pages or the WAL.
      if (deleted) shred(db);
      return deleted;
    },
    async recordDelivery(userId, id, d) {
      recordDelivery.run(JSON.stringify({ ...d, at: d.at.toISOString() }), userId, id);
    },
    async pageCiphertexts(afterUserId, limit) {
      return (pageCiphertexts.all(afterUserId, limit) as Row[]).map((r) => ({
        id: String(r.id),
        userId: String(r.userId),
        ciphertext: String(r.ciphertext),
        keyVersion: Number(r.keyVersion),
      }));
    },
    async replaceCiphertext(userId, expected, next) {
      return replaceCiphertext.run(next.ciphertext, next.keyVersion, userId, expected).changes === 1;
    },
    async countBelowVersion(userId, version) {
      return Number((countBelow.get(userId, version) as Row).n);
    },
  };
}

function parseDelivery(text: string): WebhookDeliveryRecord {
  const d = JSON.parse(text) as Omit<WebhookDeliveryRecord, "at"> & { at: string };
  return { at: new Date(d.at), delivered: d.delivered, event: d.event, detail: d.detail, attempts: d.attempts };
}

// Requests expired for longer than this are removed as new ones arrive, so a late poll still
// hears expired_token for a while instead of invalid_grant.
const DEVICE_REQUEST_GRACE_MS = 3_600_000;

function deviceRequests(db: DatabaseSync): DeviceRequestStore {
  const toRequest = (r: Row): DeviceRequestRecord => ({
    id: String(r.id),
    deviceCodeHash: String(r.device_code_hash),
    userCodeHash: String(r.user_code_hash),
    clientId: String(r.client_id),
    clientHost: String(r.client_host),
    clientRepository: String(r.client_repository),
    tokenName: String(r.token_name),
    address: String(r.address),
    userAgent: String(r.user_agent),
    scopes: JSON.parse(String(r.scopes)) as string[],
    providers: JSON.parse(String(r.providers)) as string[],
    createdAt: date(r.created_at)!,
    expiresAt: date(r.expires_at)!,
    intervalSeconds: Number(r.interval_seconds),
    lastPolledAt: date(r.last_polled_at),
    status: String(r.status) as DeviceRequestRecord["status"],
    userId: r.user_id === null ? undefined : String(r.user_id),
    decidedAt: date(r.decided_at),
    decidedBy:
      r.decided_by === null ? undefined : (JSON.parse(String(r.decided_by)) as DeviceRequestRecord["decidedBy"]),
    grant: r.grant_json === null ? undefined : (JSON.parse(String(r.grant_json)) as DeviceRequestRecord["grant"]),
    tokenId: r.token_id === null ? undefined : String(r.token_id),
  });
  const purge = db.prepare("DELETE FROM device_requests WHERE expires_at <= ?");
  const insert = db.prepare(
    `INSERT INTO device_requests (id, device_code_hash, user_code_hash, client_id, client_host, client_repository,
       token_name, address, user_agent, scopes, providers, created_at, expires_at, interval_seconds, status)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const byUserCode = db.prepare("SELECT * FROM device_requests WHERE user_code_hash = ?");
  const byDeviceCode = db.prepare("SELECT * FROM device_requests WHERE device_code_hash = ?");
  const setPoll = db.prepare(
    "UPDATE device_requests SET last_polled_at = ?, interval_seconds = interval_seconds + ? WHERE id = ?",
  );
  const decide = db.prepare(
    `UPDATE device_requests SET status = ?, user_id = ?, decided_at = ?, decided_by = ?, grant_json = ?
      WHERE id = ? AND status = 'pending' AND expires_at > ?`,
  );
  const markUsed = db.prepare(
    "UPDATE device_requests SET status = 'used', token_id = ? WHERE id = ? AND status = 'approved'",
  );
  return {
    async create(d) {
      try {
        transaction(db, () => {
          purge.run(d.createdAt.getTime() - DEVICE_REQUEST_GRACE_MS);
          insert.run(
            d.id,
            d.deviceCodeHash,
            d.userCodeHash,
            d.clientId,
            d.clientHost,
            d.clientRepository,
            d.tokenName,
            d.address,
            d.userAgent,
            JSON.stringify(d.scopes),
            JSON.stringify(d.providers),
            d.createdAt.getTime(),
            d.expiresAt.getTime(),
            d.intervalSeconds,
            d.status,
          );
        });
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async byUserCodeHash(hash) {
      const r = byUserCode.get(hash) as Row | undefined;
      return r && toRequest(r);
    },
    async byDeviceCodeHash(hash) {
      const r = byDeviceCode.get(hash) as Row | undefined;
      return r && toRequest(r);
    },
    async poll(hash, now) {
      return transaction(db, () => {
        const r = byDeviceCode.get(hash) as Row | undefined;
        if (!r) return undefined;
        const before = toRequest(r);
        const tooSoon =
          before.lastPolledAt !== undefined &&
          now.getTime() - before.lastPolledAt.getTime() < before.intervalSeconds * 1000;
        setPoll.run(now.getTime(), tooSoon ? 5 : 0, before.id);
        return {
          request: {
            ...before,
            lastPolledAt: now,
            intervalSeconds: before.intervalSeconds + (tooSoon ? 5 : 0),
          },
          tooSoon,
        };
      });
    },
    async decide(id, d, now) {
      const changes = decide.run(
        d.status,
        d.userId,
        d.decidedAt.getTime(),
        JSON.stringify(d.decidedBy),
        d.grant ? JSON.stringify(d.grant) : null,
        id,
        now.getTime(),
      ).changes;
      return Number(changes) > 0;
    },
    async markUsed(id, tokenId) {
      return Number(markUsed.run(tokenId, id).changes) > 0;
    },
  };
}
