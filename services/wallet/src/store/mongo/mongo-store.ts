// The MongoDB store through mongoose (MONGODB_URI). Indexes are built on start; races
// between wallet processes are settled by unique indexes (E11000 → already_exists) and by
// atomic updates ($inc, conditional $set), never by read-then-write in JavaScript.
import type { Logger } from "@cv-wallet/common/logger";
import mongoose, { type Connection, type Model, type QueryFilter } from "mongoose";
import { decodeCursor, encodeCursor, utcDay } from "../cursor.ts";
import { DUPLICATE, duplicate } from "../errors.ts";
import type {
  AuditRecord,
  AuditStore,
  KeyListFilter,
  KeyRecord,
  KeyStore,
  Page,
  SessionRecord,
  SessionStore,
  Store,
  TokenRecord,
  TokenStore,
  UserStore,
  ValidationRecord,
} from "../port.ts";
import {
  type ApiKeyDoc,
  type AuditDoc,
  apiKeySchema,
  auditSchema,
  type SessionDoc,
  sessionSchema,
  type TokenDoc,
  tokenSchema,
  type UsageDoc,
  type UserDoc,
  usageSchema,
  userSchema,
} from "./schemas.ts";

export interface WalletModels {
  users: Model<UserDoc>;
  sessions: Model<SessionDoc>;
  tokens: Model<TokenDoc>;
  keys: Model<ApiKeyDoc>;
  usage: Model<UsageDoc>;
  audit: Model<AuditDoc>;
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
  };
}

function isDuplicate(error: unknown): error is { code: number; keyPattern?: Record<string, unknown> } {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === 11000;
}

function rethrowDuplicate(error: unknown): never {
  if (!isDuplicate(error)) throw error;
  const fields = Object.keys(error.keyPattern ?? {});
  if (fields.includes("email")) throw duplicate(DUPLICATE.email, error);
  if (fields.includes("name")) throw duplicate(DUPLICATE.keyName, error);
  if (fields.includes("provider")) throw duplicate(DUPLICATE.keyDefault, error);
  if (fields.includes("hash")) throw duplicate(DUPLICATE.token, error);
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
  try {
    await connection.asPromise();
    await buildIndexes(models, logger);
    if (options.auditRetentionDays) await auditTtl(models.audit, options.auditRetentionDays, logger);
  } catch (error) {
    await connection.close().catch(() => {});
    throw new Error(`MONGODB_URI: cannot reach MongoDB or build its indexes (${(error as Error).name})`);
  }
  return Object.assign(mongoStore(connection, models), { db: connection.db! });
}

/**
 * Builds every schema index. A MongoDB-compatible server that lacks an index option (FerretDB
 * v1 has no TTL or partial indexes) gets the other indexes, and a warning naming what the
 * database then does not enforce: expiry is still checked on every read, and the one-default
 * rule still holds for sequential changes, but a concurrent race is no longer settled there.
 */
async function buildIndexes(models: WalletModels, logger: Logger): Promise<void> {
  await Promise.all(
    Object.values(models).map(async (m: Model<unknown>) => {
      try {
        await m.createIndexes();
      } catch (error) {
        if (!/not implemented/i.test((error as Error).message)) throw error;
        for (const [fields, options] of m.schema.indexes()) {
          try {
            await m.collection.createIndex(
              fields as mongoose.mongo.IndexSpecification,
              options as mongoose.mongo.CreateIndexesOptions,
            );
          } catch (inner) {
            if (!/not implemented/i.test((inner as Error).message)) throw inner;
            logger.warn(
              { collection: m.collection.collectionName, index: Object.keys(fields), options: Object.keys(options) },
              "this MongoDB-compatible server lacks an index option; the guarantee it gives is not enforced by the database",
            );
          }
        }
      }
    }),
  );
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

export function mongoStore(connection: Connection, m: WalletModels): Store {
  return {
    kind: "mongodb",
    users: users(m),
    sessions: sessions(m),
    tokens: tokens(m),
    keys: keys(m),
    audit: audit(m),
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
      await Promise.all([
        m.sessions.deleteMany({ userId: id }),
        m.tokens.deleteMany({ userId: id }),
        m.keys.deleteMany({ userId: id }),
        m.usage.deleteMany({ userId: id }),
        m.audit.deleteMany({ userId: id }),
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

function sessions(m: WalletModels): SessionStore {
  return {
    async create(s) {
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
    validation: toValidation(d.validation),
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

function keyFilter(userId: string, filter: KeyListFilter): QueryFilter<ApiKeyDoc>[] {
  const and: QueryFilter<ApiKeyDoc>[] = [{ userId }];
  if (filter.provider) and.push({ provider: filter.provider });
  if (filter.providersIn?.length) and.push({ provider: { $in: filter.providersIn } });
  if (filter.expiringBefore) and.push({ expiresAt: { $ne: null, $lte: filter.expiringBefore } });
  if (filter.needsAttentionBefore) {
    and.push({
      $or: [
        { "validation.status": { $in: ["invalid", "quota_exceeded"] } },
        { expiresAt: { $ne: null, $lte: filter.needsAttentionBefore } },
      ],
    });
  }
  return and;
}

function page<T>(items: T[], pageSize: number, cursorOf: (item: T) => string): Page<T> {
  if (items.length <= pageSize) return { items };
  const kept = items.slice(0, pageSize);
  return { items: kept, next: cursorOf(kept[kept.length - 1]!) };
}

function keys(m: WalletModels): KeyStore {
  const clearDefault = (userId: string, provider: string, exceptId: string) =>
    m.keys.updateMany({ userId, provider, isDefault: true, _id: { $ne: exceptId } }, { $set: { isDefault: false } });
  return {
    async create(k) {
      try {
        if (k.isDefault) await clearDefault(k.userId, k.provider, k.id);
        const { id, ...rest } = k;
        await m.keys.create({ _id: id, ...rest });
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async get(userId, id) {
      const d = await m.keys.findOne({ _id: id, userId }).lean();
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
      if (cursor) {
        const at = new Date(cursor.time);
        and.push({ $or: [{ createdAt: { $lt: at } }, { createdAt: at, _id: { $lt: cursor.id } }] });
      }
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
      for (const field of ["name", "ciphertext", "keyVersion", "last4", "isDefault", "validation"] as const) {
        if (patch[field] !== undefined) $set[field] = patch[field];
      }
      for (const field of ["expiresAt", "baseUrl"] as const) {
        if (patch[field] === null) $unset[field] = 1;
        else if (patch[field] !== undefined) $set[field] = patch[field];
      }
      try {
        if (patch.isDefault) await clearDefault(userId, current.provider, id);
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
        return d ? toKey(d) : undefined;
      } catch (error) {
        rethrowDuplicate(error);
      }
    },
    async delete(userId, id) {
      const r = await m.keys.deleteOne({ _id: id, userId });
      if (r.deletedCount > 0) await m.usage.deleteMany({ keyId: id });
      return r.deletedCount > 0;
    },
    async recordUse(userId, id, at, event) {
      const d = await m.keys
        .findOneAndUpdate(
          { _id: id, userId },
          { $inc: { usageCount: 1 }, $set: { lastUsedAt: at } },
          { returnDocument: "after", projection: { usageCount: 1 } },
        )
        .lean();
      if (!d) return 0;
      const bumpDay = () =>
        m.usage.updateOne(
          { keyId: id, day: utcDay(at) },
          { $inc: { count: 1 }, $setOnInsert: { userId } },
          { upsert: true },
        );
      try {
        await bumpDay();
      } catch (error) {
        // Two first uses of a day can both try to insert; the loser's retry finds the document.
        if (!isDuplicate(error)) throw error;
        await bumpDay();
      }
      if (event) {
        const { id: eventId, ...rest } = event;
        await m.audit.create({ _id: eventId, ...rest });
      }
      return d.usageCount;
    },
    async usage(userId, id, fromDay, toDay) {
      const docs = await m.usage.find({ keyId: id, userId, day: { $gte: fromDay, $lte: toDay } }).lean();
      return new Map(docs.map((d) => [d.day, d.count]));
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
    async pageCiphertexts(afterId, limit) {
      const docs = await m.keys
        .find(afterId ? { _id: { $gt: afterId } } : {}, { _id: 1, userId: 1, ciphertext: 1, keyVersion: 1 })
        .sort({ _id: 1 })
        .limit(limit)
        .lean();
      return docs.map((d) => ({ id: d._id, userId: d.userId, ciphertext: d.ciphertext, keyVersion: d.keyVersion }));
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

function audit(m: WalletModels): AuditStore {
  const toEvent = (d: AuditDoc): AuditRecord => ({
    id: d._id,
    userId: d.userId,
    action: d.action,
    actor: { type: d.actor.type, id: d.actor.id, name: d.actor.name },
    target: { type: d.target.type, id: d.target.id, name: d.target.name },
    time: d.time,
    address: d.address,
    userAgent: d.userAgent,
    details: d.details instanceof Map ? Object.fromEntries(d.details) : { ...d.details },
  });
  return {
    async append(e) {
      const { id, ...rest } = e;
      await m.audit.create({ _id: id, ...rest });
    },
    async prune(before) {
      return (await m.audit.deleteMany({ time: { $lt: before } })).deletedCount;
    },
    async list(userId, action, pageSize, cursorText) {
      const cursor = decodeCursor(cursorText);
      const and: QueryFilter<AuditDoc>[] = [{ userId }];
      if (action) and.push({ action });
      if (cursor) {
        const at = new Date(cursor.time);
        and.push({ $or: [{ time: { $lt: at } }, { time: at, _id: { $lt: cursor.id } }] });
      }
      const docs = await m.audit
        .find({ $and: and })
        .sort({ time: -1, _id: -1 })
        .limit(pageSize + 1)
        .lean();
      return page(docs.map(toEvent), pageSize, (e) => encodeCursor(e.time, e.id));
    },
  };
}
