// The MongoDB store through mongoose (MONGODB_URI). Indexes are built on start; races
// between wallet processes are settled by unique indexes (E11000 → already_exists) and by
// atomic updates ($inc, conditional $set), never by read-then-write in JavaScript.
import type { Logger } from "@cv-wallet/common/logger";
import { ATTENTION_STATUSES } from "@cv-wallet/proto/catalog";
import mongoose, { type Connection, type Model, type QueryFilter } from "mongoose";
import { type Cursor, decodeCursor, encodeCursor, utcDay } from "../cursor.ts";
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
  Page,
  SessionRecord,
  SessionStore,
  Store,
  TeamRole,
  TeamStore,
  TokenRecord,
  TokenStore,
  UserStore,
  ValidationRecord,
  WebhookRecord,
  WebhookStore,
} from "../port.ts";
import {
  type ApiKeyDoc,
  type AuditDoc,
  apiKeySchema,
  auditSchema,
  type DeviceRequestDoc,
  deviceRequestSchema,
  type InvitationDoc,
  invitationSchema,
  type KeyNoticeClaimDoc,
  keyNoticeClaimSchema,
  type MemberDoc,
  memberSchema,
  type SessionDoc,
  sessionSchema,
  type TeamDoc,
  type TokenDoc,
  teamSchema,
  tokenSchema,
  type UsageDoc,
  type UserDoc,
  usageSchema,
  userSchema,
  type WebhookDeliveryDoc,
  type WebhookDoc,
  webhookDeliverySchema,
  webhookSchema,
} from "./schemas.ts";

export interface WalletModels {
  users: Model<UserDoc>;
  sessions: Model<SessionDoc>;
  tokens: Model<TokenDoc>;
  keys: Model<ApiKeyDoc>;
  usage: Model<UsageDoc>;
  audit: Model<AuditDoc>;
  teams: Model<TeamDoc>;
  members: Model<MemberDoc>;
  invitations: Model<InvitationDoc>;
  deviceRequests: Model<DeviceRequestDoc>;
  noticeClaims: Model<KeyNoticeClaimDoc>;
  webhooks: Model<WebhookDoc>;
  webhookDeliveries: Model<WebhookDeliveryDoc>;
}

/** The models on a connection (tests build them on an unconnected one to check schemas). */
export function walletModels(connection: Connection): WalletModels {
  return {
    users: connection.model<UserDoc>("User", userSchema, "users"),
    sessions: connection.model<SessionDoc>("Session", sessionSchema, "sessions"),
    tokens: connection.model<TokenDoc>("AccessToken", tokenSchema, "access_tokens"),
    keys: connection.model<ApiKeyDoc>("ApiKey", apiKeySchema, "api_keys"),
    usage: connection.model<UsageDoc>("KeyUsage", usageSchema, "key_usage"),
    audit: connection.model<AuditDoc>("AuditEvent", auditSchema, "audit_events"),
    teams: connection.model<TeamDoc>("Team", teamSchema, "teams"),
    members: connection.model<MemberDoc>("TeamMember", memberSchema, "team_members"),
    invitations: connection.model<InvitationDoc>("TeamInvitation", invitationSchema, "team_invitations"),
    deviceRequests: connection.model<DeviceRequestDoc>("DeviceRequest", deviceRequestSchema, "device_requests"),
    noticeClaims: connection.model<KeyNoticeClaimDoc>("KeyNoticeClaim", keyNoticeClaimSchema, "key_notice_claims"),
    webhooks: connection.model<WebhookDoc>("Webhook", webhookSchema, "webhooks"),
    webhookDeliveries: connection.model<WebhookDeliveryDoc>(
      "WebhookDelivery",
      webhookDeliverySchema,
      "webhook_deliveries",
    ),
  };
}

// FerretDB v1 over SQLite reports a unique-index clash from an update (not from an insert) as
// InternalError (code 1) quoting SQLite's "UNIQUE constraint failed: index '<collection>_<hash>_<index>'"
// instead of DuplicateKey (11000). MongoDB never sends that text, so accepting it changes nothing there.
const SQLITE_UNIQUE = /UNIQUE constraint failed: index '([^']+)'/;

function isDuplicate(
  error: unknown,
): error is { code: number; keyPattern?: Record<string, unknown>; message?: string } {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === 11000 || (code === 1 && SQLITE_UNIQUE.test(String(message)));
}

/** The fields of the unique index a duplicate-key error names (keyPattern, else the index name in its message). */
function duplicateFields(error: { keyPattern?: Record<string, unknown>; message?: string }): string[] {
  if (error.keyPattern) return Object.keys(error.keyPattern);
  const message = String(error.message ?? "");
  const index = SQLITE_UNIQUE.exec(message)?.[1] ?? /index: (\S+)/.exec(message)?.[1] ?? "";
  const named = [...INDEX_FIELDS].find(([name]) => index.endsWith(name));
  return named ? named[1] : [];
}

/** The wallet's unique indexes by name (as schemas.ts names them or MongoDB defaults them). */
const INDEX_FIELDS = new Map([
  ["email_1", ["email"]],
  ["owner_provider_name", ["userId", "provider", "name"]],
  ["one_default_per_provider", ["userId", "provider"]],
  ["secretHash_1", ["secretHash"]],
  ["hash_1", ["hash"]],
  ["keyId_1_day_1", ["keyId", "day"]],
]);

function rethrowDuplicate(error: unknown): never {
  if (!isDuplicate(error)) throw error;
  const fields = duplicateFields(error);
  if (fields.includes("email")) throw duplicate(DUPLICATE.email, error);
  if (fields.includes("name")) throw duplicate(DUPLICATE.keyName, error);
  if (fields.includes("provider")) throw duplicate(DUPLICATE.keyDefault, error);
  if (fields.includes("hash")) throw duplicate(DUPLICATE.token, error);
  if (fields.includes("deviceCodeHash") || fields.includes("userCodeHash"))
    throw duplicate(DUPLICATE.deviceCode, error);
  throw duplicate(DUPLICATE.id, error);
}

/** The store plus its database, where the wallet's shared rate-limit counters live too. */
export type MongoStore = Store & { readonly db: mongoose.mongo.Db };

export async function openMongoStore(
  uri: string,
  logger: Logger,
  options: { auditRetentionDays?: number | undefined } = {},
): Promise<MongoStore> {
  const connection = mongoose.createConnection(uri, { serverSelectionTimeoutMS: 5_000, autoIndex: false });
  // The error name only: messages can quote the connection string, credentials included.
  connection.on("error", (err: Error) => logger.error({ reason: err.name }, "MongoDB connection error"));
  const models = walletModels(connection);
  let missing: MissingIndexOption[];
  try {
    await connection.asPromise();
    missing = (await Promise.all(Object.values(models).map((m: Model<unknown>) => buildIndexes(m)))).flat();
    if (options.auditRetentionDays) await auditTtl(models.audit, options.auditRetentionDays, logger);
  } catch (error) {
    await connection.close().catch(() => {});
    // Which index failed and the server's code name are safe to show; a driver message is not.
    const detail = error instanceof IndexBuildError ? error.message : (error as Error).name;
    throw new Error(`MONGODB_URI: cannot reach MongoDB or build its indexes (${detail})`);
  }
  for (const m of missing) {
    logger.warn(
      { collection: m.collection, index: m.index, option: m.option },
      `this MongoDB-compatible server does not implement the index option ${m.option}: ${m.consequence}`,
    );
  }
  const store = mongoStore(connection, models, {
    purgeExpiredSessions: missing.some((m) => m.option === "expireAfterSeconds"),
    defaultIndex: !missing.some((m) => m.index === "one_default_per_provider"),
  });
  return Object.assign(store, { db: connection.db! });
}

/**
 * Audit retention on MongoDB: a TTL index on `time`, its expiry set from the configured days
 * (changed in place with collMod when the setting changes). A server without TTL indexes
 * (FerretDB v1) gets a warning; the wallet's scheduled prune still applies the retention there.
 */
async function auditTtl(model: Model<AuditDoc>, days: number, logger: Logger): Promise<void> {
  const expireAfterSeconds = Math.round(days * 86_400);
  const name = "audit_retention";
  try {
    await model.collection.createIndex({ time: 1 }, { name, expireAfterSeconds });
  } catch (error) {
    const message = (error as Error).message;
    if (/not implemented/i.test(message)) {
      logger.warn(
        { collection: "audit_events" },
        "this MongoDB-compatible server has no TTL indexes; audit retention relies on the scheduled prune",
      );
      return;
    }
    if (![85, 86].includes(Number((error as { code?: unknown }).code))) throw error;
    await model.db.db!.command({ collMod: "audit_events", index: { name, expireAfterSeconds } });
  }
}

/** An index option the server answered "not implemented" for (FerretDB v1 has neither of these). */
export interface MissingIndexOption {
  collection: string;
  index: string;
  option: "partialFilterExpression" | "expireAfterSeconds";
  consequence: string;
}

// What the wallet does without each option. Anything else the server refuses stops the start.
const WITHOUT: Record<MissingIndexOption["option"], { build: "skip" | "without the option"; consequence: string }> = {
  // A unique index without its filter would allow one key per provider: never build that.
  partialFilterExpression: {
    build: "skip",
    consequence:
      "one default key per provider is kept by the store's ordered default switch alone (concurrent switches: the last one wins) instead of also by a unique index",
  },
  expireAfterSeconds: {
    build: "without the option",
    consequence:
      "expired sessions are not removed by a TTL monitor; they are never accepted (every lookup checks the expiry) and the store deletes them when it creates a session",
  },
};

const NOT_IMPLEMENTED = 238;

class IndexBuildError extends Error {}

/** Builds a model's indexes one by one, so an option the server lacks costs that option only. */
async function buildIndexes(model: Model<unknown>): Promise<MissingIndexOption[]> {
  const missing: MissingIndexOption[] = [];
  for (const [fields, schemaOptions] of model.schema.indexes()) {
    // The wallet's schemas declare `unique` as a plain boolean (never mongoose's [true, message]).
    const options = schemaOptions as mongoose.mongo.CreateIndexesOptions;
    const index = String(options.name ?? Object.entries(fields).flat().join("_"));
    try {
      await model.collection.createIndex(fields as Record<string, 1 | -1>, options);
    } catch (error) {
      const { code, message } = error as { code?: unknown; message?: unknown };
      const option = (Object.keys(WITHOUT) as MissingIndexOption["option"][]).find(
        (o) => o in options && String(message).includes(`"${o}"`),
      );
      if (code !== NOT_IMPLEMENTED || !option) {
        const codeName = (error as { codeName?: unknown }).codeName;
        throw new IndexBuildError(
          `index ${index} on ${model.collection.collectionName}: ${typeof codeName === "string" ? codeName : (error as Error).name}`,
        );
      }
      missing.push({
        collection: model.collection.collectionName,
        index,
        option,
        consequence: WITHOUT[option].consequence,
      });
      if (WITHOUT[option].build === "without the option") {
        const { [option]: _dropped, ...rest } = options;
        await model.collection.createIndex(fields as Record<string, 1 | -1>, rest);
      }
    }
  }
  return missing;
}

export function mongoStore(
  connection: Connection,
  m: WalletModels,
  options: { purgeExpiredSessions?: boolean; defaultIndex?: boolean } = {},
): Store {
  return {
    kind: "mongodb",
    users: users(m),
    sessions: sessions(m, options.purgeExpiredSessions ?? false),
    tokens: tokens(m),
    keys: keys(m, options.defaultIndex ?? true),
    audit: audit(m),
    teams: teams(m),
    deviceRequests: deviceRequests(m),
    webhooks: webhooks(m),
    // Readiness: a real (tiny) write, so a primary that cannot accept writes shows up here.
    ping: async () => {
      await connection
        .db!.collection<{ _id: string; at: Date }>("health_probe")
        .updateOne({ _id: "probe" }, { $set: { at: new Date() } }, { upsert: true });
    },
    close: async () => {
      await connection.close();
    },
  };
}

function users(m: WalletModels): UserStore {
  const toUser = (d: UserDoc) => ({ id: d._id, email: d.email, passwordHash: d.passwordHash, createdAt: d.createdAt });
  return {
    async create(u) {
      try {
        await m.users.create({ _id: u.id, email: u.email, passwordHash: u.passwordHash, createdAt: u.createdAt });
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async byEmail(email) {
      const d = await m.users.findOne({ email }).lean();
      return d ? toUser(d) : undefined;
    },
    async byId(id) {
      const d = await m.users.findById(id).lean();
      return d ? toUser(d) : undefined;
    },
    async setPasswordHash(id, passwordHash) {
      await m.users.updateOne({ _id: id }, { $set: { passwordHash } });
    },
    async delete(id) {
      // The user last: if this is interrupted, the account still exists and can be deleted again.
      const keyIds = (await m.keys.find({ userId: id, teamId: null }, { _id: 1 }).lean()).map((d) => d._id);
      await Promise.all([
        m.sessions.deleteMany({ userId: id }),
        m.tokens.deleteMany({ userId: id }),
        m.keys.deleteMany({ userId: id, teamId: null }),
        m.noticeClaims.deleteMany({ keyId: { $in: keyIds } }),
        m.webhooks.deleteOne({ _id: id }),
        m.webhookDeliveries.deleteMany({ userId: id }),
        m.usage.deleteMany({ userId: id }),
        m.audit.deleteMany({ userId: id }),
        m.members.deleteMany({ userId: id }),
        m.deviceRequests.deleteMany({ userId: id }),
      ]);
      await m.users.deleteOne({ _id: id });
    },
  };
}

function toSession(d: SessionDoc): SessionRecord {
  return {
    id: d._id,
    secretHash: d.secretHash,
    userId: d.userId,
    createdAt: d.createdAt,
    expiresAt: d.expiresAt,
    address: d.address ?? "",
    userAgent: d.userAgent ?? "",
    lastSeenAt: d.lastSeenAt ?? undefined,
  };
}

function sessions(m: WalletModels, purgeExpired: boolean): SessionStore {
  return {
    async create(s) {
      // Without a TTL index (see WITHOUT) expired sessions go here, on the expiresAt index.
      if (purgeExpired) await m.sessions.deleteMany({ expiresAt: { $lte: s.createdAt } });
      await m.sessions.create({
        _id: s.id,
        secretHash: s.secretHash,
        userId: s.userId,
        createdAt: s.createdAt,
        expiresAt: s.expiresAt,
        address: s.address ?? "",
        userAgent: s.userAgent ?? "",
        lastSeenAt: s.lastSeenAt,
      });
    },
    async bySecretHash(secretHash, now) {
      // The TTL monitor runs once a minute; the expiry is checked here too.
      const d = await m.sessions.findOne({ secretHash, expiresAt: { $gt: now } }).lean();
      return d ? toSession(d) : undefined;
    },
    async delete(id) {
      await m.sessions.deleteOne({ _id: id });
    },
    async listByUser(userId, now) {
      const docs = await m.sessions.find({ userId, expiresAt: { $gt: now } }).lean();
      const seen = (x: SessionRecord) => (x.lastSeenAt ?? x.createdAt).getTime();
      return docs.map(toSession).sort((a, b) => seen(b) - seen(a) || (a.id < b.id ? 1 : -1));
    },
    async deleteOwned(userId, id) {
      return (await m.sessions.deleteOne({ _id: id, userId })).deletedCount > 0;
    },
    async deleteOthers(userId, keepId) {
      return (await m.sessions.deleteMany({ userId, _id: { $ne: keepId } })).deletedCount;
    },
    async touch(id, at) {
      await m.sessions.updateOne({ _id: id }, { $set: { lastSeenAt: at } });
    },
  };
}

function toToken(d: TokenDoc): TokenRecord {
  return {
    id: d._id,
    userId: d.userId,
    name: d.name,
    hash: d.hash,
    prefix: d.prefix,
    scopes: [...d.scopes],
    providers: [...d.providers],
    createdAt: d.createdAt,
    expiresAt: d.expiresAt,
    lastUsedAt: d.lastUsedAt ?? undefined,
    revokedAt: d.revokedAt ?? undefined,
    teamId: d.teamId ?? undefined,
    parentId: d.parentId ?? undefined,
  };
}

function tokens(m: WalletModels): TokenStore {
  return {
    async create(t) {
      try {
        const { id, ...rest } = t;
        await m.tokens.create({ _id: id, ...rest });
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async byHash(hash) {
      const d = await m.tokens.findOne({ hash }).lean();
      return d ? toToken(d) : undefined;
    },
    async byHashWithUser(hash) {
      // Two reads here (the SQLite store joins them).
      const d = await m.tokens.findOne({ hash }).lean();
      if (!d) return undefined;
      const u = await m.users.findById(d.userId).lean();
      return {
        token: toToken(d),
        user: u ? { id: u._id, email: u.email, passwordHash: u.passwordHash, createdAt: u.createdAt } : undefined,
      };
    },
    async list(userId) {
      return (await m.tokens.find({ userId }).sort({ createdAt: -1, _id: -1 }).lean()).map(toToken);
    },
    async get(userId, id) {
      const d = await m.tokens.findOne({ _id: id, userId }).lean();
      return d ? toToken(d) : undefined;
    },
    async revoke(userId, id, at) {
      const r = await m.tokens.updateOne({ _id: id, userId, revokedAt: null }, { $set: { revokedAt: at } });
      if (r.modifiedCount === 0) return [];
      // Walk down the lineage a generation at a time (through revoked tokens too: their
      // children may be newer), then revoke what is still live.
      const tree: string[] = [];
      let generation = [id];
      while (generation.length > 0) {
        const children = await m.tokens.find({ userId, parentId: { $in: generation } }, { _id: 1 }).lean();
        generation = children.map((c) => c._id).filter((c) => c !== id && !tree.includes(c));
        tree.push(...generation);
      }
      if (tree.length === 0) return [id];
      const live = await m.tokens.find({ _id: { $in: tree }, revokedAt: null }, { _id: 1 }).lean();
      await m.tokens.updateMany({ _id: { $in: tree }, revokedAt: null }, { $set: { revokedAt: at } });
      return [id, ...live.map((t) => t._id)];
    },
    async touch(id, at) {
      await m.tokens.updateOne({ _id: id }, { $set: { lastUsedAt: at } });
    },
  };
}

function toValidation(v: ApiKeyDoc["validation"]): ValidationRecord | undefined {
  if (!v) return undefined;
  return {
    status: v.status as ValidationRecord["status"],
    checkedAt: v.checkedAt ?? undefined,
    detail: v.detail,
    credits: v.credits ?? undefined,
    retryAfterSeconds: v.retryAfterSeconds ?? undefined,
  };
}

function toKey(d: ApiKeyDoc): KeyRecord {
  return {
    id: d._id,
    userId: d.userId,
    teamId: d.teamId ?? undefined,
    provider: d.provider,
    name: d.name,
    ciphertext: d.ciphertext,
    keyVersion: d.keyVersion,
    last4: d.last4,
    baseUrl: d.baseUrl ?? undefined,
    expiresAt: d.expiresAt ?? undefined,
    isDefault: d.isDefault,
    usageCount: d.usageCount,
    lastUsedAt: d.lastUsedAt ?? undefined,
    prefixProvider: d.prefixProvider ?? undefined,
    revealCount: d.revealCount ?? 0,
    lastRevealedAt: d.lastRevealedAt ?? undefined,
    validation: toValidation(d.validation),
    notices: toNotices(d.notices),
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

const NOTICES: readonly KeyNotice[] = ["expiring", "expired", "invalid"];

function toNotices(stored: ApiKeyDoc["notices"] | null): KeyRecord["notices"] {
  const notices: NonNullable<KeyRecord["notices"]> = {};
  for (const n of NOTICES) {
    const at = stored?.[n];
    if (at) notices[n] = at;
  }
  return Object.keys(notices).length > 0 ? notices : undefined;
}

/** A claim's id: one per (key, notice). */
const claimId = (keyId: string, notice: KeyNotice) => `${keyId}:${notice}`;

const sameNotices = (a: KeyRecord["notices"], b: KeyRecord["notices"]) =>
  NOTICES.every((n) => a?.[n]?.getTime() === b?.[n]?.getTime());

function keyFilter(userId: string, filter: KeyListFilter): QueryFilter<ApiKeyDoc>[] {
  const and: QueryFilter<ApiKeyDoc>[] = [{ userId }];
  if (filter.provider) and.push({ provider: filter.provider });
  if (filter.providersIn?.length) and.push({ provider: { $in: filter.providersIn } });
  if (filter.expiringBefore) and.push({ expiresAt: { $ne: null, $lte: filter.expiringBefore } });
  if (filter.needsAttentionBefore) {
    and.push({
      $or: [
        { "validation.status": { $in: [...ATTENTION_STATUSES] } },
        { expiresAt: { $ne: null, $lte: filter.needsAttentionBefore } },
      ],
    });
  }
  return and;
}

/** Keyset paging, newest first: documents strictly before the cursor's (`field`, _id). */
function before(field: "time" | "createdAt", cursor: Cursor) {
  const at = new Date(cursor.time);
  return { $or: [{ [field]: { $lt: at } }, { [field]: at, _id: { $lt: cursor.id } }] };
}

function page<T>(items: T[], pageSize: number, cursorOf: (item: T) => string): Page<T> {
  if (items.length <= pageSize) return { items };
  const kept = items.slice(0, pageSize);
  return { items: kept, next: cursorOf(kept[kept.length - 1]!) };
}

/** Two first writes of a day can both try to insert; the loser's retry finds the document. */
async function upsertRetrying(write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (error) {
    if (!isDuplicate(error)) throw error;
    await write();
  }
}

function keys(m: WalletModels, defaultIndex: boolean): KeyStore {
  const clearDefault = (userId: string, provider: string, exceptId: string) =>
    m.keys.updateMany({ userId, provider, isDefault: true, _id: { $ne: exceptId } }, { $set: { isDefault: false } });
  /**
   * Makes key `id` its provider's default, keeping one default per (owner, provider) without
   * the partial unique index (a server without partialFilterExpression). Defaults are ordered
   * by (defaultSince from the server's clock, _id): each switch sets its key, clears older
   * defaults, and steps back if a newer one exists. The newest is never cleared, and every
   * other is cleared either by the newest's sweep or by its own step back, so concurrent
   * switches end with exactly one default (the last one set) on MongoDB as well.
   */
  async function switchDefault(userId: string, provider: string, id: string): Promise<void> {
    const mine = await m.keys
      .findOneAndUpdate(
        { _id: id, userId },
        { $set: { isDefault: true }, $currentDate: { defaultSince: true } },
        { returnDocument: "after" },
      )
      .lean();
    if (!mine?.defaultSince) return;
    const since = mine.defaultSince;
    const others = { userId, provider, isDefault: true, _id: { $ne: id } };
    await m.keys.updateMany(
      {
        ...others,
        $or: [{ defaultSince: null }, { defaultSince: { $lt: since } }, { defaultSince: since, _id: { $lt: id } }],
      },
      { $set: { isDefault: false } },
    );
    const newer = await m.keys.exists({
      ...others,
      $or: [{ defaultSince: { $gt: since } }, { defaultSince: since, _id: { $gt: id } }],
    });
    if (newer) await m.keys.updateOne({ _id: id }, { $set: { isDefault: false } });
  }
  /**
   * Writes the key's copy of its claims (what reads and the reminder scan use), checked and
   * written again until it matches them: on FerretDB v1 an update is read, change, write, so a
   * concurrent update of the same key (another claim's copy included) can write over it.
   * False when the key is gone.
   */
  async function syncNotices(id: string): Promise<boolean> {
    const claimed = async (): Promise<KeyRecord["notices"]> => {
      const claims = await m.noticeClaims.find({ keyId: id }).lean();
      return claims.length > 0 ? Object.fromEntries(claims.map((c) => [c.notice, c.at])) : undefined;
    };
    let notices = await claimed();
    for (let attempt = 0; attempt < 5; attempt++) {
      const r = await m.keys.updateOne({ _id: id }, notices ? { $set: { notices } } : { $unset: { notices: 1 } });
      if (r.matchedCount === 0) return false;
      const d = await m.keys.findById(id, { notices: 1 }).lean();
      if (!d) return false;
      const now = await claimed();
      if (sameNotices(toNotices(d.notices), now)) return true;
      notices = now;
    }
    return true;
  }
  return {
    async create(k) {
      try {
        // With the unique index, a concurrent default makes this insert fail (already_exists).
        if (k.isDefault && defaultIndex) await clearDefault(k.userId, k.provider, k.id);
        const { id, ...rest } = k;
        await m.keys.create({ _id: id, ...rest });
        if (k.isDefault && !defaultIndex) await switchDefault(k.userId, k.provider, k.id);
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async get(userId, id) {
      const d = await m.keys.findOne({ _id: id, userId }).lean();
      return d ? toKey(d) : undefined;
    },
    async byId(id) {
      const d = await m.keys.findById(id).lean();
      return d ? toKey(d) : undefined;
    },
    async forProvider(userId, provider, name) {
      const d = name
        ? await m.keys.findOne({ userId, provider, name }).lean()
        : await m.keys.findOne({ userId, provider }).sort({ isDefault: -1, createdAt: -1, _id: -1 }).lean();
      return d ? toKey(d) : undefined;
    },
    async hasDefault(userId, provider) {
      return (await m.keys.exists({ userId, provider, isDefault: true })) !== null;
    },
    async list(userId, filter, pageSize, cursorText) {
      const cursor = decodeCursor(cursorText);
      const and = keyFilter(userId, filter);
      if (cursor) and.push(before("createdAt", cursor));
      const docs = await m.keys
        .find({ $and: and })
        .sort({ createdAt: -1, _id: -1 })
        .limit(pageSize + 1)
        .lean();
      return page(docs.map(toKey), pageSize, (k) => encodeCursor(k.createdAt, k.id));
    },
    async update(userId, id, patch) {
      const current = await m.keys.findOne({ _id: id, userId }, { provider: 1 }).lean();
      if (!current) return undefined;
      const $set: Record<string, unknown> = { updatedAt: patch.updatedAt };
      const $unset: Record<string, 1> = {};
      for (const field of [
        "provider",
        "name",
        "ciphertext",
        "keyVersion",
        "last4",
        "isDefault",
        "validation",
      ] as const) {
        if (patch[field] !== undefined) $set[field] = patch[field];
      }
      for (const field of ["expiresAt", "baseUrl", "prefixProvider"] as const) {
        if (patch[field] === null) $unset[field] = 1;
        else if (patch[field] !== undefined) $set[field] = patch[field];
      }
      // A new expiry date (or none) re-arms both expiry reminders; a new secret the invalid one.
      const rearmed: KeyNotice[] = [
        ...(patch.expiresAt !== undefined ? (["expiring", "expired"] as const) : []),
        ...(patch.validation !== undefined ? (["invalid"] as const) : []),
      ];
      for (const n of rearmed) $unset[`notices.${n}`] = 1;
      try {
        const provider = patch.provider ?? current.provider;
        if (patch.isDefault && defaultIndex) await clearDefault(userId, provider, id);
        else if (patch.isDefault) {
          delete $set.isDefault;
          await switchDefault(userId, provider, id);
        }
        const d = await m.keys
          .findOneAndUpdate(
            { _id: id, userId },
            { $set, ...(Object.keys($unset).length ? { $unset } : {}) },
            {
              returnDocument: "after",
              runValidators: true,
            },
          )
          .lean();
        if (d && rearmed.length > 0) {
          await m.noticeClaims.deleteMany({ _id: { $in: rearmed.map((n) => claimId(id, n)) } });
          await syncNotices(id);
        }
        return d ? toKey(d) : undefined;
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async delete(userId, id) {
      const r = await m.keys.deleteOne({ _id: id, userId });
      if (r.deletedCount > 0)
        await Promise.all([m.usage.deleteMany({ keyId: id }), m.noticeClaims.deleteMany({ keyId: id })]);
      return r.deletedCount > 0;
    },
    async recordUse(userId, id, at, event, tokenId) {
      const d = await m.keys
        .findOneAndUpdate(
          { _id: id, userId },
          { $inc: { usageCount: 1 }, $set: { lastUsedAt: at } },
          // No projection: the record is small, and FerretDB v1 does not implement one here.
          { returnDocument: "after" },
        )
        .lean();
      if (!d) return 0;
      const bumpDay = () =>
        m.usage.updateOne(
          { keyId: id, day: utcDay(at) },
          { $inc: { count: 1, ...(tokenId ? { [`tokens.${tokenId}`]: 1 } : {}) }, $setOnInsert: { userId } },
          { upsert: true },
        );
      await upsertRetrying(bumpDay);
      if (event) {
        const { id: eventId, ...rest } = event;
        await m.audit.create({ _id: eventId, ...rest });
      }
      return d.usageCount;
    },
    async recordReveal(userId, id, at, event) {
      const d = await m.keys
        .findOneAndUpdate(
          { _id: id, userId },
          { $inc: { revealCount: 1 }, $set: { lastRevealedAt: at } },
          // No projection: the record is small, and FerretDB v1 does not implement one here.
          { returnDocument: "after" },
        )
        .lean();
      if (!d) return 0;
      await upsertRetrying(() =>
        m.usage.updateOne(
          { keyId: id, day: utcDay(at) },
          { $inc: { reveals: 1 }, $setOnInsert: { userId, count: 0 } },
          { upsert: true },
        ),
      );
      if (event) {
        const { id: eventId, ...rest } = event;
        await m.audit.create({ _id: eventId, ...rest });
      }
      return d.revealCount ?? 0;
    },
    async usage(userId, id, fromDay, toDay) {
      const docs = await m.usage.find({ keyId: id, userId, day: { $gte: fromDay, $lte: toDay } }).lean();
      return new Map(
        docs.map((d) => [
          d.day,
          {
            retrievals: d.count,
            reveals: d.reveals ?? 0,
            byToken: d.tokens instanceof Map ? Object.fromEntries(d.tokens) : { ...(d.tokens ?? {}) },
          },
        ]),
      );
    },
    async setValidation(userId, id, v) {
      await m.keys.updateOne({ _id: id, userId }, { $set: { validation: v } });
    },
    async dueForValidation(before, limit) {
      const docs = await m.keys
        .find({ $or: [{ "validation.checkedAt": null }, { "validation.checkedAt": { $lt: before } }] })
        .sort({ "validation.checkedAt": 1, _id: 1 })
        .limit(limit)
        .lean();
      return docs.map(toKey);
    },
    async dueForReminder(now, windowEnd, limit) {
      const last = new Date(Math.max(now.getTime(), windowEnd.getTime()));
      const docs = await m.keys
        .find({
          expiresAt: { $ne: null, $lte: last },
          $or: [
            { expiresAt: { $lte: windowEnd }, "notices.expiring": null },
            { expiresAt: { $lte: now }, "notices.expired": null },
          ],
        })
        .sort({ expiresAt: 1, _id: 1 })
        .limit(limit)
        .lean();
      return docs.map(toKey);
    },
    async claimNotice(id, notice, at) {
      try {
        await m.noticeClaims.create({ _id: claimId(id, notice), keyId: id, notice, at });
      } catch (error) {
        if (!isDuplicate(error)) throw error;
        // Lost. If the key does not show the winner's claim (its winner stopped before writing
        // it, or a concurrent update wrote over it), the key would stay in the reminder scan.
        const d = await m.keys.findById(id, { notices: 1 }).lean();
        if (d && !d.notices?.[notice]) await syncNotices(id);
        return false;
      }
      if (!(await syncNotices(id))) {
        await m.noticeClaims.deleteOne({ _id: claimId(id, notice) });
        return false;
      }
      return true;
    },
    async releaseNotice(id, notice) {
      if ((await m.noticeClaims.deleteOne({ _id: claimId(id, notice) })).deletedCount > 0) await syncNotices(id);
    },
    async pageCiphertexts(afterId, limit) {
      const docs = await m.keys
        .find(afterId ? { _id: { $gt: afterId } } : {}, { _id: 1, userId: 1, teamId: 1, ciphertext: 1, keyVersion: 1 })
        .sort({ _id: 1 })
        .limit(limit)
        .lean();
      return docs.map((d) => ({
        id: d._id,
        userId: d.userId,
        teamId: d.teamId ?? undefined,
        ciphertext: d.ciphertext,
        keyVersion: d.keyVersion,
      }));
    },
    async replaceCiphertext(id, expected, next) {
      const r = await m.keys.updateOne(
        { _id: id, ciphertext: expected },
        { $set: { ciphertext: next.ciphertext, keyVersion: next.keyVersion } },
      );
      return r.modifiedCount === 1;
    },
    async countBelowVersion(userId, version) {
      return m.keys.countDocuments({ userId, keyVersion: { $lt: version } });
    },
  };
}

function webhooks(m: WalletModels): WebhookStore {
  return {
    async get(userId) {
      const d = await m.webhooks.findById(userId).lean();
      if (!d) return undefined;
      const last = await m.webhookDeliveries.findById(d.id).lean();
      const w: WebhookRecord = {
        id: d.id,
        userId: d._id,
        ciphertext: d.ciphertext,
        keyVersion: d.keyVersion,
        host: d.host,
        hint: d.hint,
        createdAt: d.createdAt,
        updatedAt: d.updatedAt,
      };
      if (last && last.userId === userId) {
        w.lastDelivery = {
          at: last.at,
          delivered: last.delivered,
          event: last.event,
          detail: last.detail,
          attempts: last.attempts,
        };
      }
      return w;
    },
    async put(w) {
      const { userId, lastDelivery: _none, ...rest } = w;
      // Two first puts at once can both try to insert; the loser's retry replaces.
      await upsertRetrying(() =>
        m.webhooks.replaceOne({ _id: userId }, { _id: userId, ...rest }, { upsert: true, runValidators: true }),
      );
      // A new webhook starts without a delivery, even one put again under the same id.
      await m.webhookDeliveries.deleteMany({ userId });
    },
    async delete(userId) {
      const deleted = (await m.webhooks.deleteOne({ _id: userId })).deletedCount > 0;
      await m.webhookDeliveries.deleteMany({ userId });
      return deleted;
    },
    async recordDelivery(userId, id, d) {
      if (!(await m.webhooks.exists({ _id: userId, id }))) return;
      const doc = {
        _id: id,
        userId,
        at: d.at,
        delivered: d.delivered,
        event: d.event,
        detail: d.detail,
        attempts: d.attempts,
      };
      await upsertRetrying(() =>
        m.webhookDeliveries.replaceOne({ _id: id }, doc, { upsert: true, runValidators: true }),
      );
    },
    async pageCiphertexts(afterUserId, limit) {
      const docs = await m.webhooks
        .find(afterUserId ? { _id: { $gt: afterUserId } } : {}, { _id: 1, id: 1, ciphertext: 1, keyVersion: 1 })
        .sort({ _id: 1 })
        .limit(limit)
        .lean();
      return docs.map((d) => ({ id: d.id, userId: d._id, ciphertext: d.ciphertext, keyVersion: d.keyVersion }));
    },
    // The same conditional update as KeyStore.replaceCiphertext: a compare-and-set on MongoDB.
    // FerretDB v1 applies it as read-modify-write of the whole document, so a re-wrap racing a
    // person saving a new webhook can write the old one back (re-wrapped, still decryptable:
    // its id and ciphertext travel together); the person then saves it again. Re-wraps are rare
    // operator runs; FerretDB v1 is not for production (README, "MongoDB-compatible servers").
    async replaceCiphertext(userId, expected, next) {
      const r = await m.webhooks.updateOne(
        { _id: userId, ciphertext: expected },
        { $set: { ciphertext: next.ciphertext, keyVersion: next.keyVersion } },
        { runValidators: true },
      );
      return r.modifiedCount === 1;
    },
    async countBelowVersion(userId, version) {
      return m.webhooks.countDocuments({ _id: userId, keyVersion: { $lt: version } });
    },
  };
}

function audit(m: WalletModels): AuditStore {
  const toEvent = (d: AuditDoc): AuditRecord => ({
    id: d._id,
    userId: d.userId,
    action: d.action,
    actor: {
      type: d.actor.type,
      id: d.actor.id,
      name: d.actor.name,
      ...(d.actor.userId ? { userId: d.actor.userId } : {}),
    },
    ...(d.teamId ? { teamId: d.teamId } : {}),
    target: { type: d.target.type, id: d.target.id, name: d.target.name },
    time: d.time,
    address: d.address,
    userAgent: d.userAgent,
    details: d.details instanceof Map ? Object.fromEntries(d.details) : { ...d.details },
  });
  /** One page of the matching events, newest first, after the page token. */
  const newestEvents = async (and: QueryFilter<AuditDoc>[], pageSize: number, cursorText: string | undefined) => {
    const cursor = decodeCursor(cursorText);
    if (cursor) and.push(before("time", cursor));
    const docs = await m.audit
      .find({ $and: and })
      .sort({ time: -1, _id: -1 })
      .limit(pageSize + 1)
      .lean();
    return page(docs.map(toEvent), pageSize, (e) => encodeCursor(e.time, e.id));
  };
  return {
    async append(e) {
      const { id, ...rest } = e;
      await m.audit.create({ _id: id, ...rest });
    },
    async listForTarget(userId, targetId, actions, limit) {
      if (actions.length === 0) return [];
      const docs = await m.audit
        .find({ userId, "target.id": targetId, action: { $in: actions } })
        .sort({ time: -1, _id: -1 })
        .limit(limit)
        .lean();
      return docs.map(toEvent);
    },
    async prune(before) {
      return (await m.audit.deleteMany({ time: { $lt: before } })).deletedCount;
    },
    async list(userId, action, pageSize, cursorText, range) {
      const and: QueryFilter<AuditDoc>[] = [{ userId }];
      if (action) and.push({ action });
      if (range?.from) and.push({ time: { $gte: range.from } });
      if (range?.to) and.push({ time: { $lt: range.to } });
      return newestEvents(and, pageSize, cursorText);
    },
    async listTeam(teamId, filter, pageSize, cursorText) {
      const and: QueryFilter<AuditDoc>[] = [{ userId: teamId, teamId }];
      if (filter.action) and.push({ action: filter.action });
      if (filter.actorId) and.push({ $or: [{ "actor.id": filter.actorId }, { "actor.userId": filter.actorId }] });
      return newestEvents(and, pageSize, cursorText);
    },
  };
}

function teams(m: WalletModels): TeamStore {
  const toTeam = (d: TeamDoc) => ({ id: d._id, name: d.name, createdAt: d.createdAt });
  const toMember = (d: MemberDoc) => ({ teamId: d.teamId, userId: d.userId, role: d.role, createdAt: d.createdAt });
  const toInvitation = (d: InvitationDoc): InvitationRecord => ({
    id: d._id,
    teamId: d.teamId,
    email: d.email,
    role: d.role,
    codeHash: d.codeHash,
    invitedBy: d.invitedBy,
    invitedByEmail: d.invitedByEmail,
    createdAt: d.createdAt,
    expiresAt: d.expiresAt,
    acceptedAt: d.acceptedAt ?? undefined,
    acceptedBy: d.acceptedBy ?? undefined,
  });
  // Taking an owner away goes through the team's guarded counter first, so the last owner
  // stays even when two owners demote each other at once; undone if the member changed meanwhile.
  const takeOwner = async (teamId: string) =>
    (await m.teams.updateOne({ _id: teamId, ownerCount: { $gt: 1 } }, { $inc: { ownerCount: -1 } })).modifiedCount ===
    1;
  const giveOwner = (teamId: string) => m.teams.updateOne({ _id: teamId }, { $inc: { ownerCount: 1 } });

  async function change(teamId: string, userId: string, role: TeamRole | undefined): Promise<MembershipChange> {
    const current = await m.members.findOne({ teamId, userId }).lean();
    if (!current) return "not_found";
    const losesOwner = current.role === "owner" && role !== "owner";
    const gainsOwner = current.role !== "owner" && role === "owner";
    if (losesOwner && !(await takeOwner(teamId))) return "last_owner";
    const filter = { teamId, userId, role: current.role };
    const r =
      role === undefined ? await m.members.deleteOne(filter) : await m.members.updateOne(filter, { $set: { role } });
    const applied =
      role === undefined
        ? r.acknowledged && (r as { deletedCount: number }).deletedCount === 1
        : (r as { matchedCount: number }).matchedCount === 1;
    if (!applied) {
      if (losesOwner) await giveOwner(teamId);
      return change(teamId, userId, role);
    }
    if (gainsOwner) await giveOwner(teamId);
    return "ok";
  }

  return {
    // Two documents, and no multi-document transaction on every MongoDB-compatible server
    // (FerretDB v1 has none): when the owner cannot be added the team is taken away again, so
    // no team is left without its owner. A process killed in between leaves a team no one is
    // a member of, which no one can see or reach.
    async create(team, owner) {
      await m.teams.create({ _id: team.id, name: team.name, createdAt: team.createdAt, ownerCount: 1 });
      try {
        await m.members.create(owner);
      } catch (error) {
        await m.teams.deleteOne({ _id: team.id }).catch(() => {});
        throw error;
      }
    },
    async get(teamId) {
      const d = await m.teams.findById(teamId).lean();
      return d ? toTeam(d) : undefined;
    },
    async listForUser(userId) {
      const mine = await m.members.find({ userId }).lean();
      const docs = await m.teams
        .find({ _id: { $in: mine.map((x) => x.teamId) } })
        .sort({ createdAt: 1, _id: 1 })
        .lean();
      const out = [];
      for (const d of docs) {
        out.push({
          team: toTeam(d),
          role: mine.find((x) => x.teamId === d._id)!.role,
          memberCount: await m.members.countDocuments({ teamId: d._id }),
        });
      }
      return out;
    },
    async membership(teamId, userId) {
      const d = await m.members.findOne({ teamId, userId }).lean();
      return d ? toMember(d) : undefined;
    },
    async members(teamId) {
      const docs = await m.members.find({ teamId }).sort({ createdAt: 1, userId: 1 }).lean();
      const users = await m.users.find({ _id: { $in: docs.map((d) => d.userId) } }, { email: 1 }).lean();
      const email = new Map(users.map((u) => [u._id, u.email]));
      return docs.filter((d) => email.has(d.userId)).map((d) => ({ ...toMember(d), email: email.get(d.userId)! }));
    },
    setRole: (teamId, userId, role) => change(teamId, userId, role),
    removeMember: (teamId, userId) => change(teamId, userId, undefined),
    async delete(teamId, at) {
      // The team document last: if this is interrupted, the team still exists and can be deleted again.
      const keyIds = (await m.keys.find({ userId: teamId, teamId }, { _id: 1 }).lean()).map((d) => d._id);
      await Promise.all([
        m.keys.deleteMany({ userId: teamId, teamId }),
        m.usage.deleteMany({ keyId: { $in: keyIds } }),
        m.noticeClaims.deleteMany({ keyId: { $in: keyIds } }),
        m.audit.deleteMany({ userId: teamId, teamId }),
        m.invitations.deleteMany({ teamId }),
        m.tokens.updateMany({ teamId, revokedAt: null }, { $set: { revokedAt: at } }),
      ]);
      await m.members.deleteMany({ teamId });
      return (await m.teams.deleteOne({ _id: teamId })).deletedCount > 0;
    },
    async createInvitation(i) {
      try {
        const { id, ...rest } = i;
        await m.invitations.create({ _id: id, ...rest });
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async pendingInvitations(teamId, now) {
      const docs = await m.invitations
        .find({ teamId, acceptedAt: null, expiresAt: { $gt: now } })
        .sort({ createdAt: -1, _id: -1 })
        .lean();
      return docs.map(toInvitation);
    },
    async invitationByCodeHash(codeHash) {
      const d = await m.invitations.findOne({ codeHash }).lean();
      return d ? toInvitation(d) : undefined;
    },
    async revokeInvitation(teamId, id) {
      return (await m.invitations.deleteOne({ _id: id, teamId, acceptedAt: null })).deletedCount > 0;
    },
    async acceptInvitation(id, member, now) {
      // The conditional update is the single use: of two concurrent accepts only one matches.
      const r = await m.invitations.updateOne(
        { _id: id, acceptedAt: null, expiresAt: { $gt: now } },
        { $set: { acceptedAt: now, acceptedBy: member.userId } },
      );
      if (r.modifiedCount !== 1) return "gone";
      try {
        await m.members.create(member);
        if (member.role === "owner") await giveOwner(member.teamId);
      } catch (error) {
        // Already a member: the existing role stands.
        if (!isDuplicate(error)) throw error;
      }
      return "ok";
    },
  };
}

function toDeviceRequest(d: DeviceRequestDoc): DeviceRequestRecord {
  return {
    id: d._id,
    deviceCodeHash: d.deviceCodeHash,
    userCodeHash: d.userCodeHash,
    clientId: d.clientId,
    clientHost: d.clientHost ?? "",
    clientRepository: d.clientRepository ?? "",
    tokenName: d.tokenName,
    address: d.address ?? "",
    userAgent: d.userAgent ?? "",
    scopes: [...d.scopes],
    providers: [...d.providers],
    createdAt: d.createdAt,
    expiresAt: d.expiresAt,
    intervalSeconds: d.intervalSeconds,
    lastPolledAt: d.lastPolledAt ?? undefined,
    status: d.status,
    userId: d.userId ?? undefined,
    decidedAt: d.decidedAt ?? undefined,
    decidedBy: d.decidedBy ? { type: d.decidedBy.type, id: d.decidedBy.id, name: d.decidedBy.name } : undefined,
    grant: d.grant
      ? {
          scopes: [...d.grant.scopes],
          providers: [...d.grant.providers],
          expiresInDays: d.grant.expiresInDays,
          teamId: d.grant.teamId ?? undefined,
        }
      : undefined,
    tokenId: d.tokenId ?? undefined,
  };
}

function deviceRequests(m: WalletModels): DeviceRequestStore {
  return {
    async create(r) {
      const { id, ...rest } = r;
      // The TTL index does this on MongoDB; a server without TTL indexes (FerretDB v1) relies on it.
      await m.deviceRequests.deleteMany({ expiresAt: { $lte: new Date(r.createdAt.getTime() - 3_600_000) } });
      try {
        await m.deviceRequests.create({ _id: id, ...rest });
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async byUserCodeHash(hash) {
      const d = await m.deviceRequests.findOne({ userCodeHash: hash }).lean();
      return d ? toDeviceRequest(d) : undefined;
    },
    async byDeviceCodeHash(hash) {
      const d = await m.deviceRequests.findOne({ deviceCodeHash: hash }).lean();
      return d ? toDeviceRequest(d) : undefined;
    },
    async poll(hash, now) {
      // The document as it was before this poll's stamp decides whether it came too soon;
      // of two concurrent polls, the second sees the first's stamp.
      const before = await m.deviceRequests
        .findOneAndUpdate({ deviceCodeHash: hash }, { $set: { lastPolledAt: now } }, { returnDocument: "before" })
        .lean();
      if (!before) return undefined;
      const request = toDeviceRequest(before);
      const tooSoon =
        request.lastPolledAt !== undefined &&
        now.getTime() - request.lastPolledAt.getTime() < request.intervalSeconds * 1000;
      if (tooSoon) await m.deviceRequests.updateOne({ _id: request.id }, { $inc: { intervalSeconds: 5 } });
      return {
        request: { ...request, lastPolledAt: now, intervalSeconds: request.intervalSeconds + (tooSoon ? 5 : 0) },
        tooSoon,
      };
    },
    async decide(id, d, now) {
      const set: Record<string, unknown> = {
        status: d.status,
        userId: d.userId,
        decidedAt: d.decidedAt,
        decidedBy: d.decidedBy,
      };
      if (d.grant) set.grant = d.grant;
      const r = await m.deviceRequests.updateOne(
        { _id: id, status: "pending", expiresAt: { $gt: now } },
        { $set: set },
      );
      return r.modifiedCount > 0;
    },
    async markUsed(id, tokenId) {
      const r = await m.deviceRequests.updateOne(
        { _id: id, status: "approved" },
        { $set: { status: "used", tokenId } },
      );
      return r.modifiedCount > 0;
    },
  };
}
