// MongoDB, whenever one is reachable (MONGODB_URI, a local mongod, or testcontainers): the
// store contract, and the wallet end to end on it — exact concurrent counts, and no stored
// key's plaintext anywhere in the collections' raw BSON. Otherwise the skip is printed.
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { type MongoForTests, mongoForTests } from "@cv-wallet/common/testing/mongo";
import { reportDifference } from "@cv-wallet/common/testing/servers";
import mongoose from "mongoose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openMongoStore } from "../../src/store/mongo/mongo-store.ts";
import { createKey, createToken, rest, signUp, startStack } from "../stack.ts";
import { storeContract } from "./contract.ts";

let mongo: MongoForTests | undefined;
/** Why concurrent updates of one document lose writes on this server, when they do. */
let lostUpdates: string | undefined;
let serverName = "";
beforeAll(async () => {
  mongo = await mongoForTests("wallet store contract and end to end (MongoDB)");
  if (!mongo) return;
  const connection = await mongoose.createConnection(mongo.uri).asPromise();
  try {
    const info = await connection.db!.admin().command({ buildInfo: 1 });
    const server = info.ferretdbVersion
      ? `FerretDB ${String(info.ferretdbVersion)}`
      : `MongoDB ${String(info.version)}`;
    serverName = server;
    console.log(`[mongodb] wallet suites run against ${server} (${mongo.source})`);
    // FerretDB v1 applies an update as read, change, write outside one transaction.
    if (info.ferretdbVersion) {
      lostUpdates = `${server} applies an update as read-modify-write, so concurrent $inc on one document loses increments (MongoDB does not)`;
    }
  } finally {
    await connection.close();
  }
});
afterAll(async () => {
  await mongo?.stop();
});

let differencesShown = false;
storeContract(
  "mongodb",
  async () => {
    if (!mongo) return undefined;
    const logs = captureLogs();
    const store = await openMongoStore(mongo.uri, logs.logger);
    // What this server lacks that MongoDB has, as the store reported it at start.
    if (!differencesShown) {
      differencesShown = true;
      for (const e of logs.entries().filter((e) => e.level === "warn")) {
        reportDifference(`wallet store (${serverName})`, String(e.msg));
      }
    }
    return store;
  },
  {
    get concurrentUpdatesOfOneDocument() {
      return lostUpdates;
    },
  },
);

describe("the MongoDB store's start", () => {
  it("names the index a server refuses (and never the connection string)", async (ctx) => {
    if (!mongo) return ctx.skip();
    // A database of its own where an index of the same name already has other keys.
    const uri = new URL(mongo.uri);
    uri.pathname = `/wallet_conflict_${Date.now()}`;
    const connection = await mongoose.createConnection(uri.toString()).asPromise();
    try {
      await connection.db!.collection("api_keys").createIndex({ name: 1 }, { name: "owner_provider_name" });
      const started = openMongoStore(uri.toString(), captureLogs().logger);
      await expect(started).rejects.toThrow(/^MONGODB_URI: cannot .* \(index owner_provider_name on api_keys: \w+\)$/);
      await expect(started).rejects.not.toThrow(uri.host);
    } finally {
      await connection.db!.dropDatabase();
      await connection.close();
    }
  });
});

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
      const retrieve = () => rest(base, "GET", "/api/keys/provider/openai", undefined, { token });
      const replies = [];
      if (lostUpdates) {
        reportDifference("the wallet on MongoDB", `50 retrievals one at a time: ${lostUpdates}`);
        for (let i = 0; i < 50; i++) replies.push(await retrieve());
      } else replies.push(...(await Promise.all(Array.from({ length: 50 }, retrieve))));
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

describe("audit retention on MongoDB", () => {
  it("a TTL index on the audit log's time (a server without TTL indexes, FerretDB v1, gets only the scheduled prune)", async (ctx) => {
    if (!mongo) return ctx.skip();
    const logs = captureLogs();
    const store = await openMongoStore(mongo.uri, logs.logger, { auditRetentionDays: 30 });
    try {
      const indexes = await store.db.collection("audit_events").indexes();
      const ttl = indexes.find((i) => i.name === "audit_retention");
      if (ttl) {
        expect(ttl.expireAfterSeconds).toBe(30 * 86_400);
        // A changed setting changes the index in place.
        await store.close();
        const again = await openMongoStore(mongo.uri, logs.logger, { auditRetentionDays: 7 });
        const changed = (await again.db.collection("audit_events").indexes()).find((i) => i.name === "audit_retention");
        expect(changed?.expireAfterSeconds).toBe(7 * 86_400);
        await again.close();
      } else {
        // The difference, named: no TTL index here, a warning says so, and the prune (tested
        // in the contract above) is what enforces retention.
        console.warn("[note] this MongoDB-compatible server has no TTL indexes; retention runs as the scheduled prune");
        expect(logs.text()).toContain("audit retention relies on the scheduled prune");
      }
    } finally {
      await store.close().catch(() => {});
    }
  });
});

type Raw = { _id: string } & Record<string, unknown>;

describe("teams on MongoDB", () => {
  it("a team whose owner cannot be added is not left behind (two writes, no transaction)", async (ctx) => {
    if (!mongo) return ctx.skip();
    const store = await openMongoStore(mongo.uri, captureLogs().logger);
    try {
      const teamId = new mongoose.Types.ObjectId().toHexString();
      const userId = new mongoose.Types.ObjectId().toHexString();
      const at = new Date();
      // The owner's membership is already there (as if from a half-finished earlier attempt),
      // so adding it again fails on the unique membership index.
      await store.db
        .collection<Raw>("team_members")
        .insertOne({ _id: teamId, teamId, userId, role: "owner", createdAt: at });
      await expect(
        store.teams.create(
          { id: teamId, name: "half", createdAt: at },
          { teamId, userId, role: "owner", createdAt: at },
        ),
      ).rejects.toThrow();
      expect(await store.teams.get(teamId)).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});

describe("reminder claims on MongoDB", () => {
  it("a claim whose key never got its copy (the winner stopped in between) is repaired by a later losing claim", async (ctx) => {
    if (!mongo) return ctx.skip();
    // A database of its own: the reminder scan spans every owner.
    const uri = new URL(mongo.uri);
    uri.pathname = `/wallet_claims_${Date.now()}`;
    const store = await openMongoStore(uri.toString(), captureLogs().logger);
    try {
      const now = new Date(Date.UTC(1991, 0, 1));
      const id = new mongoose.Types.ObjectId().toHexString();
      const owner = new mongoose.Types.ObjectId().toHexString();
      await store.db.collection<Raw>("api_keys").insertOne({
        _id: id,
        userId: owner,
        provider: "openai",
        name: "stranded",
        ciphertext: "cvw:v1:AAAA",
        keyVersion: 1,
        last4: "abcd",
        expiresAt: now,
        isDefault: false,
        usageCount: 0,
        revealCount: 0,
        createdAt: now,
        updatedAt: now,
      });
      const stale = new Date(Date.now() - 3_600_000);
      await store.db
        .collection<Raw>("key_notice_claims")
        .insertOne({ _id: `${id}:expired`, keyId: id, notice: "expired", at: stale });
      const due = () => store.keys.dueForReminder(now, now, 10).then((ks) => ks.map((k) => [k.id, k.notices]));
      expect(await due()).toEqual([[id, undefined]]);
      expect(await store.keys.claimNotice(id, "expired", new Date())).toBe(false);
      expect((await store.keys.byId(id))?.notices).toEqual({ expired: stale });
      expect(await store.keys.claimNotice(id, "expiring", new Date())).toBe(true);
      expect(await due()).toEqual([]);
      // Deleting the key deletes its claims.
      await store.keys.delete(owner, id);
      expect(await store.db.collection("key_notice_claims").countDocuments({ keyId: id })).toBe(0);
    } finally {
      await store.db.dropDatabase();
      await store.close();
    }
  });
});
