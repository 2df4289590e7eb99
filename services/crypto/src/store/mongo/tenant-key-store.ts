// The MongoDB store (MONGODB_URI, the database named in the URI) through mongoose. Writes that
// instances may race on rely on the unique (name, version) index and on atomic updates
// ($inc, conditional $set), not on read-then-write.
import { AppError } from "@cv-wallet/common/errors";
import type { Logger } from "@cv-wallet/common/logger";
import { isMongoUnavailable } from "@cv-wallet/common/mongo-errors";
import mongoose, { type Connection, type Model } from "mongoose";
import type {
  TenantKey,
  TenantKeyStore,
  TenantKeyVersion,
  TenantKeyVersionWithMin,
  TenantKeyWithVersions,
} from "../port.ts";
import {
  type DestroyedKeyDoc,
  destroyedKeySchema,
  type HealthDoc,
  healthSchema,
  type TenantKeyDoc,
  type TenantKeyVersionDoc,
  tenantKeySchema,
  tenantKeyVersionSchema,
} from "./schemas.ts";

// At most one log line per this interval while the database keeps failing.
const FAILURE_LOG_INTERVAL_MS = 10_000;

export class MongoTenantKeyStore implements TenantKeyStore {
  readonly kind = "mongodb" as const;
  readonly #connection: Connection;
  readonly #keys: Model<TenantKeyDoc>;
  readonly #versions: Model<TenantKeyVersionDoc>;
  readonly #destroyed: Model<DestroyedKeyDoc>;
  readonly #health: Model<HealthDoc>;

  readonly #logger: Logger;
  #lastFailureLog = 0;
  #suppressedFailures = 0;

  private constructor(connection: Connection, logger: Logger) {
    this.#connection = connection;
    this.#logger = logger;
    this.#keys = connection.model<TenantKeyDoc>("CryptoKey", tenantKeySchema);
    this.#versions = connection.model<TenantKeyVersionDoc>("CryptoKeyVersion", tenantKeyVersionSchema);
    this.#destroyed = connection.model<DestroyedKeyDoc>("CryptoDestroyedKey", destroyedKeySchema);
    this.#health = connection.model<HealthDoc>("CryptoHealth", healthSchema);
  }

  /** Connects and builds the indexes; the connection string never reaches a log or error. */
  static async connect(uri: string, logger: Logger): Promise<MongoTenantKeyStore> {
    const connection = mongoose.createConnection(uri, { serverSelectionTimeoutMS: 5_000, autoIndex: false });
    connection.on("error", (err: Error) => logger.error({ reason: err.name }, "MongoDB connection error"));
    const store = new MongoTenantKeyStore(connection, logger);
    try {
      await connection.asPromise();
      await store.#versions.createIndexes();
    } catch (error) {
      await connection.close().catch(() => {});
      throw new Error(`MONGODB_URI: cannot reach MongoDB (${(error as Error).name})`);
    }
    return store;
  }

  async check(): Promise<void> {
    try {
      // A write, not a ping: a primary that answers but refuses writes cannot serve Encrypt.
      await this.#health.updateOne({ _id: "probe" }, { $set: { checkedAt: new Date() } }, { upsert: true });
    } catch (error) {
      throw new Error(`MONGODB_URI: MongoDB does not accept writes (${(error as Error).name})`);
    }
  }

  latestVersion(name: string): Promise<TenantKeyVersionWithMin | undefined> {
    return this.#guard("latestVersion", () => this.#latestVersion(name));
  }

  getVersion(name: string, version: number): Promise<TenantKeyVersionWithMin | undefined> {
    return this.#guard("getVersion", () => this.#getVersion(name, version));
  }

  getKey(name: string): Promise<TenantKeyWithVersions | undefined> {
    return this.#guard("getKey", () => this.#getKey(name));
  }

  listKeys(after: string, limit: number): Promise<TenantKeyWithVersions[]> {
    return this.#guard("listKeys", () => this.#listKeys(after, limit));
  }

  insertVersion(record: TenantKeyVersion): Promise<"inserted" | "exists" | "destroyed"> {
    return this.#guard("insertVersion", () => this.#insertVersion(record));
  }

  raiseMinDecryptionVersion(name: string, version: number): Promise<TenantKey | undefined> {
    return this.#guard("raiseMinDecryptionVersion", () => this.#raiseMinDecryptionVersion(name, version));
  }

  reserveEncryptions(name: string, version: number, count: number): Promise<number | undefined> {
    return this.#guard("reserveEncryptions", () => this.#reserveEncryptions(name, version, count));
  }

  addEncryptions(increments: readonly { name: string; version: number; count: number }[]): Promise<void> {
    return this.#guard("addEncryptions", () => this.#addEncryptions(increments));
  }

  destroyKey(name: string): Promise<number> {
    return this.#guard("destroyKey", () => this.#destroyKey(name));
  }

  listVersions(after: { name: string; version: number } | undefined, limit: number): Promise<TenantKeyVersion[]> {
    return this.#guard("listVersions", () => this.#listVersions(after, limit));
  }

  replaceWrappedDek(
    name: string,
    version: number,
    expected: Uint8Array,
    next: { wrappedDek: Uint8Array; wrappingKeyId: string },
  ): Promise<boolean> {
    return this.#guard("replaceWrappedDek", () => this.#replaceWrappedDek(name, version, expected, next));
  }

  /**
   * Runs a store operation; a database that cannot serve (down, failing over, out of disk)
   * becomes `unavailable`, its error logged here at most once per 10 s, since callers see only
   * the safe message. Anything else passes through.
   */
  async #guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (!isMongoUnavailable(error)) throw error;
      const now = Date.now();
      if (now - this.#lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
        // The error's name and code only: a driver message can carry host names or the URI.
        this.#logger.error(
          {
            reason: (error as Error).name,
            code: (error as { code?: unknown }).code,
            operation,
            suppressed: this.#suppressedFailures,
          },
          "key store cannot serve: answering unavailable",
        );
        this.#lastFailureLog = now;
        this.#suppressedFailures = 0;
      } else {
        this.#suppressedFailures++;
      }
      throw new AppError("unavailable", "the key store cannot serve this request now: MongoDB is unavailable", {
        cause: error,
      });
    }
  }

  async #latestVersion(name: string): Promise<TenantKeyVersionWithMin | undefined> {
    const [version, key] = await Promise.all([
      this.#versions.findOne({ name }).sort({ version: -1 }).lean(),
      this.#keys.findById(name).lean(),
    ]);
    return version ? { ...toVersion(version), minDecryptionVersion: key?.minDecryptionVersion ?? 1 } : undefined;
  }

  async #getVersion(name: string, version: number): Promise<TenantKeyVersionWithMin | undefined> {
    const [v, key] = await Promise.all([
      this.#versions.findOne({ name, version }).lean(),
      this.#keys.findById(name).lean(),
    ]);
    return v ? { ...toVersion(v), minDecryptionVersion: key?.minDecryptionVersion ?? 1 } : undefined;
  }

  async #getKey(name: string): Promise<TenantKeyWithVersions | undefined> {
    const key = await this.#keys.findById(name).lean();
    if (!key) return undefined;
    const versions = await this.#versions.find({ name }).sort({ version: 1 }).lean();
    return { ...toKey(key), versions: versions.map(toVersion) };
  }

  async #listKeys(after: string, limit: number): Promise<TenantKeyWithVersions[]> {
    const keys = await this.#keys
      .find(after ? { _id: { $gt: after } } : {})
      .sort({ _id: 1 })
      .limit(limit)
      .lean();
    const versions = await this.#versions
      .find({ name: { $in: keys.map((k) => k._id) } })
      .sort({ name: 1, version: 1 })
      .lean();
    return keys.map((k) => ({ ...toKey(k), versions: versions.filter((v) => v.name === k._id).map(toVersion) }));
  }

  async #insertVersion(record: TenantKeyVersion): Promise<"inserted" | "exists" | "destroyed"> {
    if (await this.#destroyed.exists({ _id: record.name })) return "destroyed";
    try {
      await this.#keys.updateOne(
        { _id: record.name },
        { $setOnInsert: { minDecryptionVersion: 1, createdAt: record.createdAt } },
        { upsert: true },
      );
    } catch (error) {
      if (!isDuplicate(error)) throw error; // two upserts raced; the key exists either way
    }
    try {
      await this.#versions.create({ ...record, wrappedDek: Buffer.from(record.wrappedDek) });
    } catch (error) {
      if (isDuplicate(error)) return "exists";
      throw error;
    }
    // destroyKey writes its tombstone before deleting: a destroy that raced this insert either
    // deleted the version already or left a tombstone this read sees, and then the insert is undone.
    if (await this.#destroyed.exists({ _id: record.name })) {
      await this.#versions.deleteMany({ name: record.name });
      await this.#keys.deleteOne({ _id: record.name });
      return "destroyed";
    }
    return "inserted";
  }

  async #raiseMinDecryptionVersion(name: string, version: number): Promise<TenantKey | undefined> {
    await this.#keys.updateOne(
      { _id: name, minDecryptionVersion: { $lt: version } },
      { $set: { minDecryptionVersion: version } },
    );
    const key = await this.#keys.findById(name).lean();
    return key ? toKey(key) : undefined;
  }

  async #reserveEncryptions(name: string, version: number, count: number): Promise<number | undefined> {
    const doc = await this.#versions
      .findOneAndUpdate({ name, version }, { $inc: { encryptionCount: count } }, { returnDocument: "after" })
      .lean();
    return doc?.encryptionCount;
  }

  async #addEncryptions(increments: readonly { name: string; version: number; count: number }[]): Promise<void> {
    if (increments.length === 0) return;
    await this.#versions.bulkWrite(
      increments.map((i) => ({
        updateOne: { filter: { name: i.name, version: i.version }, update: { $inc: { encryptionCount: i.count } } },
      })),
      { ordered: false },
    );
    // Handing back unused reservations (negative counts) never takes a count below zero. A
    // second, conditional write rather than an update pipeline: FerretDB v1 has no pipelines.
    const returned = increments.filter((i) => i.count < 0);
    if (returned.length === 0) return;
    await this.#versions.bulkWrite(
      returned.map((i) => ({
        updateOne: {
          filter: { name: i.name, version: i.version, encryptionCount: { $lt: 0 } },
          update: { $set: { encryptionCount: 0 } },
        },
      })),
      { ordered: false },
    );
  }

  async #destroyKey(name: string): Promise<number> {
    // The tombstone first: see insertVersion.
    try {
      await this.#destroyed.updateOne({ _id: name }, { $setOnInsert: { destroyedAt: new Date() } }, { upsert: true });
    } catch (error) {
      if (!isDuplicate(error)) throw error; // two destroys raced; the tombstone exists either way
    }
    const { deletedCount } = await this.#versions.deleteMany({ name });
    await this.#keys.deleteOne({ _id: name });
    return deletedCount;
  }

  async #listVersions(
    after: { name: string; version: number } | undefined,
    limit: number,
  ): Promise<TenantKeyVersion[]> {
    const filter = after
      ? { $or: [{ name: { $gt: after.name } }, { name: after.name, version: { $gt: after.version } }] }
      : {};
    const versions = await this.#versions.find(filter).sort({ name: 1, version: 1 }).limit(limit).lean();
    return versions.map(toVersion);
  }

  async #replaceWrappedDek(
    name: string,
    version: number,
    expected: Uint8Array,
    next: { wrappedDek: Uint8Array; wrappingKeyId: string },
  ): Promise<boolean> {
    const result = await this.#versions.updateOne(
      { name, version, wrappedDek: Buffer.from(expected) },
      { $set: { wrappedDek: Buffer.from(next.wrappedDek), wrappingKeyId: next.wrappingKeyId } },
    );
    return result.modifiedCount === 1;
  }

  async close(): Promise<void> {
    await this.#connection.close();
  }
}

function isDuplicate(error: unknown): boolean {
  return (error as { code?: number })?.code === 11000;
}

function toKey(doc: TenantKeyDoc): TenantKey {
  return { name: doc._id, minDecryptionVersion: doc.minDecryptionVersion, createdAt: new Date(doc.createdAt) };
}

function toVersion(doc: TenantKeyVersionDoc): TenantKeyVersion {
  // lean() returns BSON Binary for Buffer fields.
  const raw = doc.wrappedDek as unknown as Buffer | { buffer: Uint8Array };
  const wrapped = Buffer.isBuffer(raw) ? raw : raw.buffer;
  return {
    name: doc.name,
    version: doc.version,
    dekId: doc.dekId,
    wrappedDek: new Uint8Array(wrapped),
    wrappingKeyId: doc.wrappingKeyId,
    createdAt: new Date(doc.createdAt),
    encryptionCount: doc.encryptionCount,
  };
}
