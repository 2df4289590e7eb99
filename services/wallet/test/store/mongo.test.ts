// MongoDB, whenever one is reachable (MONGODB_URI, a local mongod, or testcontainers): the
// store contract, and the wallet end to end on it — exact concurrent counts, and no stored
// key's plaintext anywhere in the collections' raw BSON. Otherwise the skip is printed.
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { differsOnFerretDB, type MongoForTests, mongoForTests } from "@cv-wallet/common/testing/mongo";
import mongoose from "mongoose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openMongoStore } from "../../src/store/mongo/mongo-store.ts";
import { createKey, createToken, rest, signUp, startStack } from "../stack.ts";
import { storeContract } from "./contract.ts";

let mongo: MongoForTests | undefined;
beforeAll(async () => {
  mongo = await mongoForTests("wallet store contract and end to end (MongoDB)");
  if (mongo) {
    differsOnFerretDB(
      mongo,
      "wallet store (MongoDB)",
      "no TTL indexes (expired sessions stay until deleted; lookups refuse them) and no partial indexes (one default per provider is not enforced by the database); the store warns and opens without them",
    );
  }
});
afterAll(async () => {
  await mongo?.stop();
});

// FerretDB v1 (the MongoDB wire protocol where no MongoDB exists) differs in two ways the
// contract can see; on MongoDB both checks run in full.
const FERRETDB_INC = "concurrent $inc on one document loses updates (FerretDB v1 updates read, modify and write back)";
storeContract(
  "mongodb",
  async () => (mongo ? openMongoStore(mongo.uri, captureLogs().logger) : undefined),
  () =>
    mongo?.ferretdb
      ? {
          concurrentIncrements: `FerretDB: ${FERRETDB_INC}`,
          duplicateOnUpdate:
            "FerretDB: a unique-index clash in findAndModify is refused with an internal error, not duplicate key 11000",
        }
      : {},
);

describe("the wallet on MongoDB", () => {
  it("counts concurrent retrievals exactly and stores no plaintext", async (ctx) => {
    if (!mongo) return ctx.skip();
    const stack = await startStack({ mongodbUri: mongo.uri });
    try {
      const base = stack.url;
      const a = await signUp(base);
      const token = (await createToken(base, a)).secret;
      const keys = [];
      for (const provider of ["openai", "anthropic", "groq"]) {
        keys.push(await createKey(base, { token }, { provider, key: `${provider}-MONGO-PLAINTEXT-${Date.now()}` }));
      }
      const fetch = () => rest(base, "GET", "/api/keys/provider/openai", undefined, { token });
      const replies = [];
      if (
        differsOnFerretDB(
          mongo,
          "wallet end to end (MongoDB)",
          `${FERRETDB_INC}; the 50 retrievals run one after another`,
        )
      ) {
        for (let i = 0; i < 50; i++) replies.push(await fetch());
      } else replies.push(...(await Promise.all(Array.from({ length: 50 }, fetch))));
      expect(replies.every((r) => r.status === 200)).toBe(true);
      expect((await rest(base, "GET", `/api/keys/${keys[0]!.id}`, undefined, { token })).body.key.usageCount).toBe(50);
      const dup = await rest(
        base,
        "POST",
        "/api/keys",
        { provider: "groq", name: keys[2]!.body.key.name, key: "gsk_0123456789" },
        { token },
      );
      expect(dup.status).toBe(409);

      const connection = await mongoose.createConnection(mongo.uri).asPromise();
      try {
        const db = connection.db!;
        const chunks: Buffer[] = [];
        for (const { name } of await db.listCollections().toArray()) {
          for (const doc of await db.collection(name).find().toArray())
            chunks.push(Buffer.from(mongoose.mongo.BSON.serialize(doc)));
        }
        const bytes = Buffer.concat(chunks);
        expect(bytes.includes(Buffer.from("cvw:v1:"))).toBe(true);
        for (const k of keys) expect(bytes.includes(Buffer.from(k.key))).toBe(false);
        expect(bytes.includes(Buffer.from("MONGO-PLAINTEXT"))).toBe(false);
        expect(bytes.includes(Buffer.from(token))).toBe(false);
      } finally {
        await connection.close();
      }
    } finally {
      await stack.stop();
    }
  });
});
