// Two crypto service processes' worth of state over one SQLite file (WAL): racing first
// encrypts and rotations must produce one version per number, and either instance opens
// what the other sealed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, startHarness, utf8 } from "./support/harness.ts";

describe("two instances over one SQLite file", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "cvw-crypto-multi-"));
  let a: Harness;
  let b: Harness;
  beforeAll(async () => {
    a = await startHarness({ dataDir });
    b = await startHarness({ dataDir, serviceToken: a.token });
  });
  afterAll(async () => {
    await a.stop();
    await b.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("racing first encrypts create one version 1, readable on both", async () => {
    const sealed = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).client.encrypt({ keyName: "user/race", plaintext: utf8(`m${i}`), context: utf8("c") }, a.auth),
      ),
    );
    expect(new Set(sealed.map((s) => s.keyVersion))).toEqual(new Set([1]));
    const info = await a.client.getKeyInfo({ keyName: "user/race" }, a.auth);
    expect(info.key?.versions).toHaveLength(1);
    for (const [i, s] of sealed.entries()) {
      const other = i % 2 ? b : a;
      const out = await other.client.decrypt(
        { keyName: "user/race", ciphertext: s.ciphertext, context: utf8("c") },
        a.auth,
      );
      expect(Buffer.from(out.plaintext).toString()).toBe(`m${i}`);
    }
  });

  it("racing RotateKey calls each add exactly one version, never a duplicate", async () => {
    await a.client.encrypt({ keyName: "user/rotrace", plaintext: utf8("x") }, a.auth);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).client.rotateKey({ keyName: "user/rotrace" }, a.auth)),
    );
    expect(results).toHaveLength(6);
    const info = await b.client.getKeyInfo({ keyName: "user/rotrace" }, a.auth);
    expect(info.key?.versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("encryption counters from both instances add up", async () => {
    for (let i = 0; i < 5; i++) {
      await a.client.encrypt({ keyName: "user/count", plaintext: utf8("x") }, a.auth);
      await b.client.encrypt({ keyName: "user/count", plaintext: utf8("y") }, a.auth);
    }
    await b.client.getKeyInfo({ keyName: "user/count" }, a.auth); // flushes b's pending counts
    const info = await a.client.getKeyInfo({ keyName: "user/count" }, a.auth); // and a's
    expect(info.key?.versions[0]?.encryptionCount).toBe(10n);
  });
});
