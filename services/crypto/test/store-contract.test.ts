// One contract for the keyring store port, run on every adapter that can run here: SQLite
// always, MongoDB whenever one is reachable (the skip is printed otherwise, never faked).
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { type MongoForTests, mongoForTests } from "@cv-wallet/common/testing/mongo";
import { reportDifference } from "@cv-wallet/common/testing/servers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TenantKeyStore, TenantKeyVersion } from "../src/store/port.ts";
import { SqliteTenantKeyStore } from "../src/store/sqlite/tenant-key-store.ts";

function version(name: string, v: number, extra: Partial<TenantKeyVersion> = {}): TenantKeyVersion {
  return {
    name,
    version: v,
    dekId: randomUUID(),
    wrappedDek: new Uint8Array([v, 1, 2, 3, 255]),
    wrappingKeyId: "local:test",
    createdAt: new Date(1_700_000_000_000 + v * 1000),
    encryptionCount: 0,
    ...extra,
  };
}

function storeContract(
  adapter: string,
  open: () => Promise<
    { store: TenantKeyStore; reopen?: () => Promise<TenantKeyStore>; concurrentIncrementsLost?: string } | undefined
  >,
) {
  describe(`keyring store contract: ${adapter}`, () => {
    let store: TenantKeyStore | undefined;
    let reopen: (() => Promise<TenantKeyStore>) | undefined;
    let concurrentIncrementsLost: string | undefined;
    let prefix = "";
    beforeAll(async () => {
      const opened = await open();
      store = opened?.store;
      reopen = opened?.reopen;
      concurrentIncrementsLost = opened?.concurrentIncrementsLost;
    });
    afterAll(async () => {
      await store?.close();
    });
    beforeEach(() => {
      prefix = `t${randomUUID().slice(0, 8)}`;
    });

    it("inserts versions once each and reads the latest", async ({ skip }) => {
      if (!store) return skip();
      const name = `${prefix}/a`;
      expect(await store.latestVersion(name)).toBeUndefined();
      expect(await store.insertVersion(version(name, 1))).toBe("inserted");
      expect(await store.insertVersion(version(name, 1))).toBe("exists");
      expect(await store.insertVersion(version(name, 2))).toBe("inserted");
      const latest = await store.latestVersion(name);
      expect(latest).toMatchObject({ name, version: 2, minDecryptionVersion: 1, wrappingKeyId: "local:test" });
      expect(Buffer.from(latest!.wrappedDek)).toEqual(Buffer.from([2, 1, 2, 3, 255]));
      expect((await store.getVersion(name, 1))?.version).toBe(1);
      expect(await store.getVersion(name, 3)).toBeUndefined();
    });

    it("lets exactly one of many racing inserts of the same version win", async ({ skip }) => {
      if (!store) return skip();
      const name = `${prefix}/race`;
      const results = await Promise.all(Array.from({ length: 20 }, () => store!.insertVersion(version(name, 1))));
      expect(results.filter((r) => r === "inserted")).toHaveLength(1);
      expect(results.filter((r) => r === "exists")).toHaveLength(19);
      expect((await store.getKey(name))!.versions).toHaveLength(1);
    });

    it("adds encryption counts atomically", async ({ skip }) => {
      if (!store) return skip();
      const name = `${prefix}/count`;
      await store.insertVersion(version(name, 1));
      const add = () => store!.addEncryptions([{ name, version: 1, count: 5 }]);
      if (concurrentIncrementsLost) {
        // The server cannot show atomicity; the sum still has to come out right one call at a time.
        reportDifference(`crypto keyring store contract (${adapter})`, concurrentIncrementsLost);
        for (let i = 0; i < 10; i++) await add();
      } else await Promise.all(Array.from({ length: 10 }, add));
      expect((await store.getVersion(name, 1))!.encryptionCount).toBe(50);
      // Handing back unused reservations never takes a count below zero.
      await store.addEncryptions([{ name, version: 1, count: -60 }]);
      expect((await store.getVersion(name, 1))!.encryptionCount).toBe(0);
    });

    it("reserves encryptions atomically and answers the count after each reservation", async ({ skip }) => {
      if (!store) return skip();
      const name = `${prefix}/reserve`;
      await store.insertVersion(version(name, 1));
      const reserve = () => store!.reserveEncryptions(name, 1, 3);
      let totals: (number | undefined)[] = [];
      if (concurrentIncrementsLost) {
        // The server cannot show atomicity (see above); each reservation must still count.
        reportDifference(`crypto keyring store contract (${adapter})`, concurrentIncrementsLost);
        for (let i = 0; i < 10; i++) totals.push(await reserve());
      } else totals = await Promise.all(Array.from({ length: 10 }, reserve));
      expect([...totals].sort((a, b) => a! - b!)).toEqual([3, 6, 9, 12, 15, 18, 21, 24, 27, 30]);
      expect((await store.getVersion(name, 1))!.encryptionCount).toBe(30);
      expect(await store.reserveEncryptions(name, 2, 1)).toBeUndefined();
    });

    it("only raises the minimum decryption version", async ({ skip }) => {
      if (!store) return skip();
      const name = `${prefix}/min`;
      await store.insertVersion(version(name, 1));
      await store.insertVersion(version(name, 2));
      expect((await store.raiseMinDecryptionVersion(name, 2))!.minDecryptionVersion).toBe(2);
      expect((await store.raiseMinDecryptionVersion(name, 1))!.minDecryptionVersion).toBe(2);
      expect((await store.getVersion(name, 1))!.minDecryptionVersion).toBe(2);
      expect(await store.raiseMinDecryptionVersion(`${prefix}/absent`, 1)).toBeUndefined();
    });

    it("destroys every version of one key and nothing else", async ({ skip }) => {
      if (!store) return skip();
      await store.insertVersion(version(`${prefix}/gone`, 1));
      await store.insertVersion(version(`${prefix}/gone`, 2));
      await store.insertVersion(version(`${prefix}/kept`, 1));
      expect(await store.destroyKey(`${prefix}/gone`)).toBe(2);
      expect(await store.getKey(`${prefix}/gone`)).toBeUndefined();
      expect(await store.getVersion(`${prefix}/gone`, 1)).toBeUndefined();
      expect(await store.getKey(`${prefix}/kept`)).toBeDefined();
      expect(await store.destroyKey(`${prefix}/gone`)).toBe(0);
      // A destroyed name is a tombstone: it is never created again, so a late encrypt cannot
      // give a deleted tenant a fresh key.
      expect(await store.insertVersion(version(`${prefix}/gone`, 1))).toBe("destroyed");
      expect(await store.getKey(`${prefix}/gone`)).toBeUndefined();
      expect(await store.latestVersion(`${prefix}/gone`)).toBeUndefined();
      // Destroying a name never used also refuses it from then on.
      expect(await store.destroyKey(`${prefix}/never`)).toBe(0);
      expect(await store.insertVersion(version(`${prefix}/never`, 1))).toBe("destroyed");
    });

    it("never leaves a version behind when inserts race the destruction", async ({ skip }) => {
      if (!store || !reopen) return skip();
      const other = await reopen();
      try {
        for (let round = 0; round < 5; round++) {
          const name = `${prefix}/race-destroy-${round}`;
          await store.insertVersion(version(name, 1));
          const inserts = Array.from({ length: 10 }, (_, i) =>
            (i % 2 ? store! : other).insertVersion(version(name, 2 + i)),
          );
          await Promise.all([...inserts, other.destroyKey(name)]);
          expect(await store.getKey(name)).toBeUndefined();
          expect(await store.latestVersion(name)).toBeUndefined();
          expect(
            await other.listVersions({ name, version: 0 }, 100).then((v) => v.filter((x) => x.name === name)),
          ).toEqual([]);
        }
      } finally {
        await other.close();
      }
    });

    it("pages keys and versions in order", async ({ skip }) => {
      if (!store) return skip();
      for (const n of ["c", "a", "b"]) {
        await store.insertVersion(version(`${prefix}/${n}`, 1));
        await store.insertVersion(version(`${prefix}/${n}`, 2));
      }
      const first = await store.listKeys(`${prefix}/`, 2);
      expect(first.map((k) => k.name)).toEqual([`${prefix}/a`, `${prefix}/b`]);
      expect(first[0]!.versions.map((v) => v.version)).toEqual([1, 2]);
      const second = await store.listKeys(first[1]!.name, 2);
      expect(second.map((k) => k.name)[0]).toBe(`${prefix}/c`);

      const versions = await store.listVersions({ name: `${prefix}/a`, version: 1 }, 3);
      expect(versions.map((v) => `${v.name.slice(-1)}${v.version}`)).toEqual(["a2", "b1", "b2"]);
    });

    it("replaces a wrapped DEK only if it is still the expected one", async ({ skip }) => {
      if (!store) return skip();
      const name = `${prefix}/rewrap`;
      const record = version(name, 1);
      await store.insertVersion(record);
      const next = { wrappedDek: new Uint8Array([9, 9, 9]), wrappingKeyId: "arn:new" };
      expect(await store.replaceWrappedDek(name, 1, new Uint8Array([0]), next)).toBe(false);
      expect(await store.replaceWrappedDek(name, 1, record.wrappedDek, next)).toBe(true);
      expect(await store.replaceWrappedDek(name, 1, record.wrappedDek, next)).toBe(false);
      const stored = await store.getVersion(name, 1);
      expect(stored!.wrappingKeyId).toBe("arn:new");
      expect(Buffer.from(stored!.wrappedDek)).toEqual(Buffer.from([9, 9, 9]));
    });

    it("sees at once what another instance wrote after it read (new version, counts, minimum, destroy)", async ({
      skip,
    }) => {
      if (!store || !reopen) return skip();
      const name = `${prefix}/shared`;
      const other = await reopen();
      try {
        await store.insertVersion(version(name, 1));
        // Read twice here first, so anything this instance keeps is warm.
        for (let i = 0; i < 2; i++) {
          expect((await store.latestVersion(name))?.version).toBe(1);
          expect((await store.getVersion(name, 1))?.encryptionCount).toBe(0);
        }
        await other.insertVersion(version(name, 2));
        expect((await store.latestVersion(name))?.version).toBe(2);
        await other.addEncryptions([{ name, version: 1, count: 3 }]);
        expect((await store.getVersion(name, 1))?.encryptionCount).toBe(3);
        await other.raiseMinDecryptionVersion(name, 2);
        expect((await store.getVersion(name, 1))?.minDecryptionVersion).toBe(2);
        expect((await store.latestVersion(name))?.minDecryptionVersion).toBe(2);
        await other.destroyKey(name);
        expect(await store.getVersion(name, 2)).toBeUndefined();
        expect(await store.latestVersion(name)).toBeUndefined();
        // And its own writes, too.
        const own = `${name}-own`;
        await store.insertVersion(version(own, 1));
        expect((await store.latestVersion(own))?.version).toBe(1);
        await store.addEncryptions([{ name: own, version: 1, count: 2 }]);
        expect((await store.latestVersion(own))?.encryptionCount).toBe(2);
        await store.destroyKey(own);
        expect(await store.getVersion(own, 1)).toBeUndefined();
      } finally {
        await other.close();
      }
    });

    it("keeps what it stored across a reopen", async ({ skip }) => {
      if (!store || !reopen) return skip();
      const name = `${prefix}/durable`;
      await store.insertVersion(version(name, 1, { encryptionCount: 7 }));
      const again = await reopen();
      try {
        expect((await again.getVersion(name, 1))!.encryptionCount).toBe(7);
      } finally {
        await again.close();
      }
    });
  });
}

const sqliteDir = mkdtempSync(join(tmpdir(), "cvw-crypto-store-"));
afterAll(() => rmSync(sqliteDir, { recursive: true, force: true }));
storeContract("sqlite", async () => {
  const file = join(sqliteDir, "crypto.db");
  return { store: new SqliteTenantKeyStore(file), reopen: async () => new SqliteTenantKeyStore(file) };
});

let mongo: MongoForTests | undefined;
afterAll(async () => {
  await mongo?.stop();
});
storeContract("mongodb", async () => {
  mongo = await mongoForTests("crypto keyring store on MongoDB");
  if (!mongo) return undefined;
  const { MongoTenantKeyStore } = await import("../src/store/mongo/tenant-key-store.ts");
  const logger = captureLogs("crypto").logger;
  return {
    store: await MongoTenantKeyStore.connect(mongo.uri, logger),
    reopen: () => MongoTenantKeyStore.connect(mongo!.uri, logger),
    concurrentIncrementsLost: mongo.ferretdb
      ? "FerretDB: concurrent $inc on one document loses updates (FerretDB v1 updates read, modify and write back)"
      : undefined,
  };
});
