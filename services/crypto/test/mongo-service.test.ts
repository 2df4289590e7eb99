// The keyring end to end on MongoDB: two instances over one database (a shared master key
// file), racing first encrypts, exact counts, destroy as a tombstone. Runs where a MongoDB is
// reachable (MONGODB_URI, a local mongod or a container engine), else prints the skip.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MongoForTests, mongoForTests } from "@cv-wallet/common/testing/mongo";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeOf, type Harness, startHarness, utf8 } from "./support/harness.ts";

describe("the crypto service on MongoDB", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "cvw-crypto-mongo-"));
  let mongo: MongoForTests | undefined;
  let a: Harness | undefined;
  let b: Harness | undefined;
  beforeAll(async () => {
    mongo = await mongoForTests("crypto service end to end on MongoDB");
    if (!mongo) return;
    a = await startHarness({ dataDir, mongodbUri: mongo.uri });
    b = await startHarness({ dataDir, mongodbUri: mongo.uri, serviceToken: a.token });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await mongo?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("two instances: racing first encrypts make one version, each opens what the other sealed, counts are exact", async ({
    skip,
  }) => {
    if (!a || !b) return skip();
    const sealed = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a! : b!).client.encrypt(
          { keyName: "user/m-race", plaintext: utf8(`m${i}`), context: utf8("c") },
          a!.auth,
        ),
      ),
    );
    expect(new Set(sealed.map((s) => s.keyVersion))).toEqual(new Set([1]));
    for (const [i, s] of sealed.entries()) {
      const out = await (i % 2 ? b : a).client.decrypt(
        { keyName: "user/m-race", ciphertext: s.ciphertext, context: utf8("c") },
        a.auth,
      );
      expect(Buffer.from(out.plaintext).toString()).toBe(`m${i}`);
    }
    // Counts, with the two instances taking turns (concurrent $inc atomicity is the store
    // contract's test): each hands back its unused reservations before GetKeyInfo answers.
    for (let i = 0; i < 10; i++) {
      await (i % 2 ? a : b).client.encrypt(
        { keyName: "user/m-count", plaintext: utf8("n"), context: utf8("c") },
        a.auth,
      );
    }
    await b.client.getKeyInfo({ keyName: "user/m-count" }, a.auth);
    const info = await a.client.getKeyInfo({ keyName: "user/m-count" }, a.auth);
    expect(info.key?.versions.map((v) => v.encryptionCount)).toEqual([10n]);
  });

  it("DestroyKey is a tombstone on every instance", async ({ skip }) => {
    if (!a || !b) return skip();
    const sealed = await a.client.encrypt({ keyName: "user/m-gone", plaintext: utf8("x"), context: utf8("c") }, a.auth);
    expect((await b.client.destroyKey({ keyName: "user/m-gone" }, a.auth)).versionsDestroyed).toBe(1);
    expect(
      await codeOf(
        a.client.decrypt({ keyName: "user/m-gone", ciphertext: sealed.ciphertext, context: utf8("c") }, a.auth),
      ),
    ).toBe(grpc.status.NOT_FOUND);
    for (const h of [a, b]) {
      expect(
        await codeOf(h.client.encrypt({ keyName: "user/m-gone", plaintext: utf8("y"), context: utf8("c") }, a.auth)),
      ).toBe(grpc.status.FAILED_PRECONDITION);
    }
    expect(await codeOf(a.client.getKeyInfo({ keyName: "user/m-gone" }, a.auth))).toBe(grpc.status.NOT_FOUND);
  });
});
