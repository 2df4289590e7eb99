// Every CryptoService RPC end to end over gRPC, with the status code each failure answers.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { toBinary } from "@bufbuild/protobuf";
import { GetKeyInfoResponseSchema } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dekContext } from "../src/kms/kek-provider.ts";
import { LocalKekProvider } from "../src/kms/local.ts";
import { SqliteTenantKeyStore } from "../src/store/sqlite/tenant-key-store.ts";
import { codeOf, type Harness, startHarness, utf8 } from "./support/harness.ts";

const ctx = utf8("record-1/key");

let dataDir = "";

/** The wrapped DEKs of a key as the SQLite store holds them (read through a connection of our own). */
function storedWrappedDeks(name: string): Buffer[] {
  const db = new DatabaseSync(join(dataDir, "crypto.db"), { readOnly: true });
  try {
    const rows = db.prepare("SELECT wrapped_dek FROM crypto_key_versions WHERE name = ?").all(name) as {
      wrapped_dek: Uint8Array;
    }[];
    return rows.map((r) => Buffer.from(r.wrapped_dek));
  } finally {
    db.close();
  }
}

/** Files under the data directory that hold any of `needles`. */
function filesContaining(needles: Buffer[]): string[] {
  return readdirSync(dataDir).filter((f) => {
    const bytes = readFileSync(join(dataDir, f));
    return needles.some((n) => bytes.includes(n));
  });
}
const SECRETS = ["sk-ant-secret-plaintext-AAAA", "sk-proj-second-secret-BBBB"];

describe("CryptoService RPCs", () => {
  let h: Harness;
  const enc = (keyName: string, text: string, context = ctx) =>
    h.client.encrypt({ keyName, plaintext: utf8(text), context }, h.auth);
  const dec = (keyName: string, ciphertext: string, context = ctx) =>
    h.client.decrypt({ keyName, ciphertext, context }, h.auth);

  beforeAll(async () => {
    h = await startHarness();
    dataDir = h.dataDir;
  });
  afterAll(async () => {
    // Nothing secret reached a log line during the whole suite.
    const text = h.logs.text();
    for (const secret of [...SECRETS, h.token]) expect(text).not.toContain(secret);
    const masterKey = readFileSync(join(h.dataDir, "master.key"));
    expect(text).not.toContain(masterKey.toString("base64"));
    expect(text).not.toContain(masterKey.toString("hex"));
    await h.stop();
  });

  it("tampered or malformed ciphertexts are INVALID_ARGUMENT, never INTERNAL", async () => {
    const { ciphertext } = await enc("user/tamper", SECRETS[0]!);
    const [, , body] = ciphertext.split(":");
    const raw = Buffer.from(body!, "base64url");
    raw[raw.length - 1]! ^= 1;
    const cases = [
      `cvw:v1:${raw.toString("base64url")}`,
      "cvw:v1:short",
      "not a ciphertext",
      `cvw:v1:${body}!`,
      ciphertext.replace("cvw:v1:", "cvw:vx:"),
    ];
    for (const c of cases) expect(await codeOf(dec("user/tamper", c)), c).toBe(grpc.status.INVALID_ARGUMENT);
    // A version that does not exist: NOT_FOUND.
    expect(await codeOf(dec("user/tamper", ciphertext.replace("cvw:v1:", "cvw:v9:")))).toBe(grpc.status.NOT_FOUND);
    // An unknown key: NOT_FOUND.
    expect(await codeOf(dec("user/nobody", ciphertext))).toBe(grpc.status.NOT_FOUND);
  });

  it("rejects invalid requests with INVALID_ARGUMENT naming the field", async () => {
    const bad = async (p: Promise<unknown>, field: RegExp) => {
      const error = (await p.catch((e: unknown) => e)) as grpc.ServiceError;
      expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(error.details).toMatch(field);
    };
    await bad(h.client.encrypt({ keyName: "", plaintext: utf8("x") }, h.auth), /key_name/);
    await bad(h.client.encrypt({ keyName: "user/../x y", plaintext: utf8("x") }, h.auth), /key_name/);
    await bad(h.client.encrypt({ keyName: "user/big", plaintext: new Uint8Array(65_537) }, h.auth), /plaintext/);
    await bad(
      h.client.encrypt({ keyName: "user/ctx", plaintext: utf8("x"), context: new Uint8Array(1025) }, h.auth),
      /context/,
    );
    await bad(h.client.decrypt({ keyName: "user/x", ciphertext: "" }, h.auth), /ciphertext/);
    await bad(
      h.client.encryptBatch(
        { items: Array.from({ length: 101 }, () => ({ keyName: "user/x", plaintext: utf8("x") })) },
        h.auth,
      ),
      /items/,
    );
    await bad(h.client.encryptBatch({ items: [] }, h.auth), /items/);
    await bad(
      h.client.setMinDecryptionVersion({ keyName: "user/x", minDecryptionVersion: 0 }, h.auth),
      /min_decryption_version/,
    );
    await bad(h.client.listKeys({ pageSize: 1001 }, h.auth), /page_size/);
    // The largest allowed plaintext is fine.
    const max = await h.client.encrypt({ keyName: "user/big", plaintext: new Uint8Array(65_536).fill(1) }, h.auth);
    expect((await dec("user/big", max.ciphertext, new Uint8Array())).plaintext).toHaveLength(65_536);
  });

  it("rotates: new encryptions use the latest version, older ones still decrypt", async () => {
    const v1 = await enc("user/rot", SECRETS[0]!);
    const rotated = await h.client.rotateKey({ keyName: "user/rot" }, h.auth);
    expect(rotated.key?.latestVersion).toBe(2);
    expect(rotated.key?.versions.map((v) => v.version)).toEqual([1, 2]);
    const v2 = await enc("user/rot", SECRETS[1]!);
    expect(v2.keyVersion).toBe(2);
    expect(v2.ciphertext.startsWith("cvw:v2:")).toBe(true);
    expect(Buffer.from((await dec("user/rot", v1.ciphertext)).plaintext).toString()).toBe(SECRETS[0]);
    expect((await dec("user/rot", v1.ciphertext)).keyVersion).toBe(1);
    expect(await codeOf(h.client.rotateKey({ keyName: "user/never" }, h.auth))).toBe(grpc.status.NOT_FOUND);
  });

  it("min_decryption_version refuses older ciphertexts with FAILED_PRECONDITION and only rises", async () => {
    const v1 = await enc("user/min", "old secret");
    await h.client.rotateKey({ keyName: "user/min" }, h.auth);
    const v2 = await enc("user/min", "new secret");
    const set = await h.client.setMinDecryptionVersion({ keyName: "user/min", minDecryptionVersion: 2 }, h.auth);
    expect(set.key?.minDecryptionVersion).toBe(2);
    expect(await codeOf(dec("user/min", v1.ciphertext))).toBe(grpc.status.FAILED_PRECONDITION);
    expect(Buffer.from((await dec("user/min", v2.ciphertext)).plaintext).toString()).toBe("new secret");
    const lower = h.client.setMinDecryptionVersion({ keyName: "user/min", minDecryptionVersion: 1 }, h.auth);
    expect(await codeOf(lower)).toBe(grpc.status.FAILED_PRECONDITION);
    const above = h.client.setMinDecryptionVersion({ keyName: "user/min", minDecryptionVersion: 3 }, h.auth);
    expect(await codeOf(above)).toBe(grpc.status.FAILED_PRECONDITION);
    const absent = h.client.setMinDecryptionVersion({ keyName: "user/none", minDecryptionVersion: 1 }, h.auth);
    expect(await codeOf(absent)).toBe(grpc.status.NOT_FOUND);
  });

  it("rewraps a ciphertext onto the latest version without returning the plaintext", async () => {
    const v1 = await enc("user/rewrap", SECRETS[0]!);
    const same = await h.client.rewrap({ keyName: "user/rewrap", ciphertext: v1.ciphertext, context: ctx }, h.auth);
    expect(same).toMatchObject({ changed: false, keyVersion: 1, ciphertext: v1.ciphertext });
    await h.client.rotateKey({ keyName: "user/rewrap" }, h.auth);
    const moved = await h.client.rewrap({ keyName: "user/rewrap", ciphertext: v1.ciphertext, context: ctx }, h.auth);
    expect(moved.changed).toBe(true);
    expect(moved.keyVersion).toBe(2);
    expect(JSON.stringify(moved)).not.toContain(SECRETS[0]);
    expect(Buffer.from((await dec("user/rewrap", moved.ciphertext)).plaintext).toString()).toBe(SECRETS[0]);
    // Wrong context: refused, as Decrypt would.
    const wrong = h.client.rewrap(
      { keyName: "user/rewrap", ciphertext: v1.ciphertext, context: utf8("other") },
      h.auth,
    );
    expect(await codeOf(wrong)).toBe(grpc.status.INVALID_ARGUMENT);
    // A ciphertext already at the latest version is still authenticated before "unchanged".
    const forged = `${moved.ciphertext.slice(0, -2)}AA`;
    expect(await codeOf(h.client.rewrap({ keyName: "user/rewrap", ciphertext: forged, context: ctx }, h.auth))).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
  });

  it("GetKeyInfo describes versions and counts but carries no key material", async () => {
    await enc("user/info", "a");
    await enc("user/info", "b");
    await h.client.rotateKey({ keyName: "user/info" }, h.auth);
    await enc("user/info", "c");
    const info = await h.client.getKeyInfo({ keyName: "user/info" }, h.auth);
    expect(info.key?.name).toBe("user/info");
    expect(info.key?.versions.map((v) => [v.version, v.encryptionCount])).toEqual([
      [1, 2n],
      [2, 1n],
    ]);
    expect(info.key?.versions[0]?.wrappingKeyId).toMatch(/^local:[0-9a-f]{16}$/);

    // Recover the real DEKs from the store and master key, and look for them in the response.
    const store = new SqliteTenantKeyStore(join(h.dataDir, "crypto.db"));
    const local = new LocalKekProvider(join(h.dataDir, "master.key"));
    await local.check();
    const wire = Buffer.from(toBinary(GetKeyInfoResponseSchema, info));
    for (const v of (await store.getKey("user/info"))!.versions) {
      const dek = Buffer.from(await local.decrypt(v.wrappedDek, dekContext(v.name, v.version), v.wrappingKeyId));
      expect(dek).toHaveLength(32);
      expect(wire.includes(dek)).toBe(false);
      expect(wire.includes(Buffer.from(v.wrappedDek))).toBe(false);
      expect(h.logs.text()).not.toContain(dek.toString("base64"));
      expect(h.logs.text()).not.toContain(dek.toString("hex"));
    }
    await store.close();
    expect(await codeOf(h.client.getKeyInfo({ keyName: "user/unknown" }, h.auth))).toBe(grpc.status.NOT_FOUND);
  });

  it("ListKeys pages through key names", async () => {
    for (const n of ["list-a", "list-b", "list-c"]) await enc(`ops/${n}`, "x");
    const first = await h.client.listKeys({ pageSize: 2 }, h.auth);
    expect(first.keys).toHaveLength(2);
    const names: string[] = first.keys.map((k) => k.name);
    let token = first.nextPageToken;
    while (token) {
      const page = await h.client.listKeys({ pageSize: 2, pageToken: token }, h.auth);
      names.push(...page.keys.map((k) => k.name));
      token = page.nextPageToken;
    }
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(["ops/list-a", "ops/list-b", "ops/list-c"]));
    expect(await codeOf(h.client.listKeys({ pageToken: "garbage!" }, h.auth))).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("DestroyKey shreds: old ciphertexts become unrecoverable and the name is never used again", async () => {
    const before = await enc("user/shred", SECRETS[1]!);
    await h.client.rotateKey({ keyName: "user/shred" }, h.auth);
    // The wrapped DEKs as stored, to look for them in the files afterwards.
    const wrapped = storedWrappedDeks("user/shred");
    expect(wrapped).toHaveLength(2);
    expect(filesContaining(wrapped)).not.toEqual([]);
    const destroyed = await h.client.destroyKey({ keyName: "user/shred" }, h.auth);
    expect(destroyed.versionsDestroyed).toBe(2);
    // Not in crypto.db, not in its WAL, nowhere under the data directory.
    expect(filesContaining(wrapped)).toEqual([]);
    expect(await codeOf(dec("user/shred", before.ciphertext))).toBe(grpc.status.NOT_FOUND);
    expect(await codeOf(h.client.getKeyInfo({ keyName: "user/shred" }, h.auth))).toBe(grpc.status.NOT_FOUND);
    expect((await h.client.destroyKey({ keyName: "user/shred" }, h.auth)).versionsDestroyed).toBe(0);
    // A destroyed tenant key is a tombstone: an encrypt after it (a late or racing write for a
    // deleted account) is refused instead of creating a fresh version 1.
    const late = (await enc("user/shred", "fresh").catch((e: unknown) => e)) as grpc.ServiceError;
    expect(late.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(late.details).toMatch(/destroyed/);
    expect(await codeOf(h.client.rotateKey({ keyName: "user/shred" }, h.auth))).toBe(grpc.status.NOT_FOUND);
    expect(await codeOf(h.client.getKeyInfo({ keyName: "user/shred" }, h.auth))).toBe(grpc.status.NOT_FOUND);
  });

  it("an Encrypt racing DestroyKey never leaves a key behind", async () => {
    for (let round = 0; round < 5; round++) {
      const name = `user/race-${round}`;
      await enc(name, "first");
      const racing = Array.from({ length: 20 }, () => codeOf(enc(name, "racing")));
      const [codes] = await Promise.all([Promise.all(racing), h.client.destroyKey({ keyName: name }, h.auth)]);
      expect(codes.every((c) => c === "ok" || c === grpc.status.FAILED_PRECONDITION)).toBe(true);
      expect(await codeOf(h.client.getKeyInfo({ keyName: name }, h.auth))).toBe(grpc.status.NOT_FOUND);
      expect(await codeOf(enc(name, "after"))).toBe(grpc.status.FAILED_PRECONDITION);
    }
  });

  it("batches answer each item on its own", async () => {
    const sealed = await h.client.encryptBatch(
      {
        items: [
          { keyName: "user/batch1", plaintext: utf8("one"), context: ctx },
          { keyName: "user/batch2", plaintext: utf8("two"), context: ctx },
        ],
      },
      h.auth,
    );
    const cts = sealed.results.map((r) => (r.result.case === "ok" ? r.result.value.ciphertext : ""));
    expect(cts.every((c) => c.startsWith("cvw:v1:"))).toBe(true);
    const opened = await h.client.decryptBatch(
      {
        items: [
          { keyName: "user/batch1", ciphertext: cts[0]!, context: ctx },
          { keyName: "user/batch2", ciphertext: cts[1]!, context: utf8("wrong") },
          { keyName: "user/batch-none", ciphertext: cts[0]!, context: ctx },
        ],
      },
      h.auth,
    );
    const [a, b, c] = opened.results.map((r) => r.result);
    expect(a?.case === "ok" && Buffer.from(a.value.plaintext).toString()).toBe("one");
    expect(b?.case === "error" && b.value.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(c?.case === "error" && c.value.code).toBe(grpc.status.NOT_FOUND);
  });
});

describe("automatic rotation", () => {
  it("rotates a version once its encryption budget is spent", async () => {
    const h = await startHarness({ rotateAfterEncryptions: 3 });
    try {
      const versions: number[] = [];
      for (let i = 0; i < 7; i++) {
        versions.push((await h.client.encrypt({ keyName: "user/auto", plaintext: utf8(`m${i}`) }, h.auth)).keyVersion);
      }
      expect(versions).toEqual([1, 1, 1, 2, 2, 2, 3]);
      const info = await h.client.getKeyInfo({ keyName: "user/auto" }, h.auth);
      expect(info.key?.versions.map((v) => v.encryptionCount)).toEqual([3n, 3n, 1n]);
    } finally {
      await h.stop();
    }
  });
});

describe("first use under concurrency", () => {
  it("a batch of 100 items for a new key creates one version with one data key", async () => {
    const h = await startHarness();
    try {
      const items = Array.from({ length: 100 }, (_, i) => ({
        keyName: "user/burst",
        plaintext: utf8(`m${i}`),
        context: ctx,
      }));
      const out = await h.client.encryptBatch({ items }, h.auth);
      expect(out.results.every((r) => r.result.case === "ok" && r.result.value.keyVersion === 1)).toBe(true);
      expect(await h.server.metrics.kmsCallCount("generate_data_key")).toBe(1);
      expect(await h.server.metrics.kmsCallCount("decrypt")).toBe(0); // the new DEK went straight into the cache
    } finally {
      await h.stop();
    }
  });
});
