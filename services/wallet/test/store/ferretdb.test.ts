// The store contract on FerretDB (FERRETDB_URI): a MongoDB wire-protocol server that lacks
// two index options the MongoDB adapter uses, partial indexes (one default key per provider)
// and TTL indexes (session expiry), so openMongoStore refuses it. Here every other index is
// built one by one and the refused ones are named in the output; the adapter's code is the
// same. Guarantees that rest on the missing indexes (a concurrent second default) are MongoDB's.
import { reportSkip } from "@cv-wallet/common/testing/skips";
import mongoose, { type Model } from "mongoose";
import { afterAll } from "vitest";
import { mongoStore, walletModels } from "../../src/store/mongo/mongo-store.ts";
import { storeContract } from "./contract.ts";

const uri = process.env.FERRETDB_URI;
if (!uri) reportSkip("wallet store contract (FerretDB)", "FERRETDB_URI is not set");
const connections: mongoose.Connection[] = [];
const refused = new Set<string>();
afterAll(async () => {
  if (refused.size > 0) console.warn(`[ferretdb] indexes FerretDB refused: ${[...refused].join("; ")}`);
  await Promise.all(connections.map((c) => c.close()));
});

const NO_PROJECTION = "FerretDB v1 does not implement findAndModify's `fields` (projection), which recordUse uses";
const NOT_ATOMIC = "FerretDB v1 does not apply concurrent conditional updates atomically (MongoDB does, per document)";
const DIFFERENCES: Record<string, string> = {
  "keys: update applies set fields, clears with null, and maps a name clash to already_exists":
    "FerretDB v1 reports a duplicate key in findAndModify without MongoDB's code 11000",
  "keys: concurrent uses are counted exactly, with a per-day counter": NO_PROJECTION,
  "keys: a use and its audit event are recorded together, and neither for a stranger's key": NO_PROJECTION,
  "keys: uses of several keys (and a stranger's) at once: exact counts, per-day counters, one event each":
    NO_PROJECTION,
  "teams: a use of a team key counts in the team's partition and its event goes to the team's log": NO_PROJECTION,
  "teams: two owners demoting each other at once leave one owner": NOT_ATOMIC,
  "teams: an invitation accepted twice at once is used once": NOT_ATOMIC,
};

storeContract(
  "ferretdb",
  async () => {
    if (!uri) return undefined;
    const url = new URL(uri);
    url.pathname = `/cvw_fdb_${Math.random().toString(16).slice(2, 10)}`;
    const connection = mongoose.createConnection(url.toString(), { autoIndex: false });
    await connection.asPromise();
    connections.push(connection);
    const models = walletModels(connection);
    for (const model of Object.values(models) as Model<unknown>[]) {
      await model.createCollection().catch(() => {});
      for (const [fields, options] of model.schema.indexes()) {
        try {
          await model.collection.createIndex(fields as Record<string, 1 | -1>, options as object);
        } catch (error) {
          refused.add(`${model.collection.name} ${JSON.stringify(fields)}: ${(error as Error).message}`);
        }
      }
    }
    const store = mongoStore(connection, models);
    return store;
  },
  DIFFERENCES,
);
