// The wallet's key records as the re-wrap command sees them: a page in id order, a
// compare-and-set of the ciphertext, a count of a tenant's records below a version. It reads
// the wallet's own storage (services/wallet/src/store: the `api_keys` table of wallet.db, or
// the `api_keys` collection in MongoDB) and writes only `ciphertext` and `keyVersion` — a
// re-encryption, not an edit, so `updatedAt` keeps the user's last change. The wallet's
// encryption context for a key record is `<record id>/key` (services/wallet/src/crypto-client.ts).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";

export interface StoredRecord {
  id: string;
  userId: string;
  ciphertext: string;
  keyVersion: number;
}

export interface RecordStore {
  readonly kind: "sqlite" | "mongodb";
  /** Up to `limit` records with id > `afterId`, in id order. */
  page(afterId: string, limit: number): Promise<StoredRecord[]>;
  /** Replaces the ciphertext only if it is still `expected`; false when the record changed or went. */
  replaceCiphertext(id: string, expected: string, next: { ciphertext: string; keyVersion: number }): Promise<boolean>;
  /** How many of the user's records are below `version`. */
  countBelow(userId: string, version: number): Promise<number>;
  close(): Promise<void>;
}

export async function openRecordStore(env: {
  MONGODB_URI?: string | undefined;
  WALLET_DATA_DIR?: string | undefined;
}): Promise<RecordStore> {
  if (env.MONGODB_URI) return openMongo(env.MONGODB_URI);
  const file = join(resolve(env.WALLET_DATA_DIR ?? "./data/wallet"), "wallet.db");
  // Never create an empty database by mistake: a wrong WALLET_DATA_DIR must fail loudly.
  if (!existsSync(file)) throw new Error(`WALLET_DATA_DIR: no wallet database at ${file}`);
  return openSqlite(file);
}

function openSqlite(file: string): RecordStore {
  const db = new DatabaseSync(file);
  db.exec("PRAGMA busy_timeout = 5000");
  const page = db.prepare(
    "SELECT id, user_id AS userId, ciphertext, key_version AS keyVersion FROM api_keys WHERE id > ? ORDER BY id LIMIT ?",
  );
  const replace = db.prepare("UPDATE api_keys SET ciphertext = ?, key_version = ? WHERE id = ? AND ciphertext = ?");
  const below = db.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE user_id = ? AND key_version < ?");
  return {
    kind: "sqlite",
    async page(afterId, limit) {
      return page.all(afterId, limit).map((r) => ({ ...(r as unknown as StoredRecord) }));
    },
    async replaceCiphertext(id, expected, next) {
      return replace.run(next.ciphertext, next.keyVersion, id, expected).changes === 1;
    },
    async countBelow(userId, version) {
      return Number((below.get(userId, version) as { n: number }).n);
    },
    async close() {
      if (db.isOpen) db.close();
    },
  };
}

async function openMongo(uri: string): Promise<RecordStore> {
  const mongoose = await import("mongoose");
  const connection = await mongoose.createConnection(uri, { serverSelectionTimeoutMS: 10_000 }).asPromise();
  const keys = connection.db!.collection<{ _id: string; userId: string; ciphertext: string; keyVersion: number }>(
    "api_keys",
  );
  return {
    kind: "mongodb",
    async page(afterId, limit) {
      const docs = await keys
        .find(afterId ? { _id: { $gt: afterId } } : {}, {
          projection: { _id: 1, userId: 1, ciphertext: 1, keyVersion: 1 },
        })
        .sort({ _id: 1 })
        .limit(limit)
        .toArray();
      return docs.map((d) => ({ id: d._id, userId: d.userId, ciphertext: d.ciphertext, keyVersion: d.keyVersion }));
    },
    async replaceCiphertext(id, expected, next) {
      const r = await keys.updateOne(
        { _id: id, ciphertext: expected },
        { $set: { ciphertext: next.ciphertext, keyVersion: next.keyVersion } },
      );
      return r.modifiedCount === 1;
    },
    async countBelow(userId, version) {
      return keys.countDocuments({ userId, keyVersion: { $lt: version } });
    },
    async close() {
      await connection.close();
    },
  };
}
