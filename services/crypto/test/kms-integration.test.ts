// The crypto service on the aws-kms provider (real SDK, loopback KMS-protocol endpoint):
// readiness, KMS outages, one KMS call per DEK per cache lifetime, KMS key change, shutdown.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { CryptoServerOptions } from "../src/serve.ts";
import { healthClient } from "./support/grpc-clients.ts";
import { codeOf, type Harness, startHarness, utf8 } from "./support/harness.ts";
import { type KmsTestServer, startKmsTestServer } from "./support/kms-server.ts";

process.env.AWS_ACCESS_KEY_ID ??= "test";
process.env.AWS_SECRET_ACCESS_KEY ??= "test";

const ctx = utf8("rec/field");
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "cvw-crypto-kms-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function kmsServer(port = 0): Promise<KmsTestServer> {
  const kms = await startKmsTestServer(port);
  cleanup.push(() => kms.stop());
  return kms;
}

async function onKms(
  kms: KmsTestServer,
  keyId: string,
  options: Partial<CryptoServerOptions> = {},
  kmsTimeoutMs = 10_000,
): Promise<Harness> {
  const h = await startHarness({
    kms: { keyId, region: kms.region, endpoint: kms.endpoint, timeoutMs: kmsTimeoutMs },
    readinessRetryMs: 100,
    ...options,
  });
  cleanup.push(() => h.stop());
  return h;
}

describe("crypto service on aws-kms", () => {
  it("is NOT_SERVING (and answers UNAVAILABLE) until KMS answers, then SERVING", async () => {
    const first = await startKmsTestServer();
    const keyId = first.createKey();
    const keys = first.exportKeys();
    const port = Number(new URL(first.endpoint).port);
    await first.stop();

    const h = await onKms(first, keyId, {}, 1_000);
    const health = healthClient(h.server.address);
    cleanup.push(() => health.close());
    expect(h.server.isReady()).toBe(false);
    expect(await health.check("")).toBe("NOT_SERVING");
    expect(await health.check("cvwallet.crypto.v1.CryptoService")).toBe("NOT_SERVING");
    expect(await codeOf(h.client.encrypt({ keyName: "user/a", plaintext: utf8("x") }, h.auth))).toBe(
      grpc.status.UNAVAILABLE,
    );
    expect(
      h.logs.entries().some((e) => e.msg === "crypto service not ready" && String(e.reason).startsWith("KMS_KEY_ID:")),
    ).toBe(true);

    const kms = await kmsServer(port);
    kms.importKeys(keys);
    await h.server.whenReady();
    expect(await health.check("")).toBe("SERVING");
    const sealed = await h.client.encrypt({ keyName: "user/a", plaintext: utf8("x"), context: ctx }, h.auth);
    expect(sealed.keyVersion).toBe(1);
  });

  it("answers UNAVAILABLE on a cache miss while KMS is down; a cached DEK keeps working", async () => {
    const kms = await kmsServer();
    const h = await onKms(kms, kms.createKey(), { dekCacheMaxEntries: 1 }, 1_000);
    const a = await h.client.encrypt({ keyName: "user/a", plaintext: utf8("A"), context: ctx }, h.auth);
    const b = await h.client.encrypt({ keyName: "user/b", plaintext: utf8("B"), context: ctx }, h.auth); // evicts a
    await kms.stop();
    expect(
      Buffer.from(
        (await h.client.decrypt({ keyName: "user/b", ciphertext: b.ciphertext, context: ctx }, h.auth)).plaintext,
      ).toString(),
    ).toBe("B");
    const miss = (await h.client
      .decrypt({ keyName: "user/a", ciphertext: a.ciphertext, context: ctx }, h.auth)
      .catch((e: unknown) => e)) as grpc.ServiceError;
    expect(miss.code).toBe(grpc.status.UNAVAILABLE);
    expect(miss.details).toMatch(/KMS is unavailable/);
    expect(await codeOf(h.client.encrypt({ keyName: "user/new", plaintext: utf8("C") }, h.auth))).toBe(
      grpc.status.UNAVAILABLE,
    );
  });

  it("makes one KMS call per DEK however many decrypts arrive at once, and one per tenant across 100 tenants", async () => {
    const kms = await kmsServer();
    const keyId = kms.createKey();
    const dataDir = tempDir();
    const writer = await onKms(kms, keyId, { dataDir });
    const hot = await writer.client.encrypt({ keyName: "user/hot", plaintext: utf8("hot"), context: ctx }, writer.auth);
    const tenants = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        writer.client.encrypt({ keyName: `user/t${i}`, plaintext: utf8(`s${i}`), context: ctx }, writer.auth),
      ),
    );
    await writer.stop();

    const h = await onKms(kms, keyId, { dataDir }); // cold cache
    const before = kms.calls.get("Decrypt") ?? 0;
    const results = await Promise.all(
      Array.from({ length: 1000 }, () =>
        h.client.decrypt({ keyName: "user/hot", ciphertext: hot.ciphertext, context: ctx }, h.auth),
      ),
    );
    expect(results.every((r) => Buffer.from(r.plaintext).toString() === "hot")).toBe(true);
    expect((kms.calls.get("Decrypt") ?? 0) - before).toBe(1);
    expect(await h.server.metrics.kmsCallCount("decrypt")).toBe(1);

    // 10,000 decrypts across 100 tenants: at most one KMS call per tenant.
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        tenants.flatMap((t, i) =>
          Array.from({ length: 10 }, () =>
            h.client.decrypt({ keyName: `user/t${i}`, ciphertext: t.ciphertext, context: ctx }, h.auth),
          ),
        ),
      );
    }
    expect((kms.calls.get("Decrypt") ?? 0) - before).toBe(101);
  }, 120_000); // 11,000 calls: counts are the point, not speed, and the machine may be shared

  it("RewrapDataKeys moves every DEK to a new KMS key, resumably, and old ciphertexts still open", async () => {
    const kms = await kmsServer();
    const oldKey = kms.createKey();
    const newKey = kms.createKey();
    const dataDir = tempDir();
    const before = await onKms(kms, oldKey, { dataDir });
    const sealed = [];
    for (let i = 0; i < 5; i++) {
      sealed.push(
        await before.client.encrypt(
          { keyName: `user/r${i}`, plaintext: utf8(`secret-${i}`), context: ctx },
          before.auth,
        ),
      );
    }
    await before.client.rotateKey({ keyName: "user/r0" }, before.auth);
    await before.stop();

    const h = await onKms(kms, newKey, { dataDir });
    let rewrapped = 0;
    let unchanged = 0;
    let token = "";
    let pages = 0;
    do {
      const page = await h.client.rewrapDataKeys({ pageSize: 2, pageToken: token }, h.auth);
      expect(page.wrappingKeyId).toBe(kms.arnOf(newKey));
      rewrapped += page.rewrapped;
      unchanged += page.unchanged;
      token = page.nextPageToken;
      pages++;
    } while (token);
    expect({ rewrapped, unchanged }).toEqual({ rewrapped: 6, unchanged: 0 });
    expect(pages).toBeGreaterThanOrEqual(3);
    const again = await h.client.rewrapDataKeys({ pageSize: 100 }, h.auth);
    expect({ rewrapped: again.rewrapped, unchanged: again.unchanged }).toEqual({ rewrapped: 0, unchanged: 6 });
    const info = await h.client.getKeyInfo({ keyName: "user/r0" }, h.auth);
    expect(info.key?.versions.map((v) => v.wrappingKeyId)).toEqual([kms.arnOf(newKey), kms.arnOf(newKey)]);

    // The old KMS key can now be disabled: every ciphertext still opens through the new one.
    kms.setEnabled(oldKey, false);
    await h.stop();
    const after = await onKms(kms, newKey, { dataDir });
    for (const [i, s] of sealed.entries()) {
      const out = await after.client.decrypt(
        { keyName: `user/r${i}`, ciphertext: s.ciphertext, context: ctx },
        after.auth,
      );
      expect(Buffer.from(out.plaintext).toString()).toBe(`secret-${i}`);
    }
  });

  it("lets in-flight calls finish on shutdown, then refuses new ones", async () => {
    const kms = await kmsServer();
    const keyId = kms.createKey();
    const dataDir = tempDir();
    const writer = await onKms(kms, keyId, { dataDir });
    const sealed = await writer.client.encrypt(
      { keyName: "user/slow", plaintext: utf8("slow"), context: ctx },
      writer.auth,
    );
    await writer.stop();

    const h = await onKms(kms, keyId, { dataDir });
    kms.delayMs = 300; // the cold unwrap takes a while
    const inFlight = h.client.decrypt({ keyName: "user/slow", ciphertext: sealed.ciphertext, context: ctx }, h.auth);
    await new Promise((r) => setTimeout(r, 50));
    const stopping = h.server.stop();
    expect(Buffer.from((await inFlight).plaintext).toString()).toBe("slow");
    await stopping;
    expect(
      await codeOf(
        h.client.decrypt(
          { keyName: "user/slow", ciphertext: sealed.ciphertext, context: ctx },
          { ...h.auth, timeoutMs: 1000 },
        ),
      ),
    ).not.toBe("ok");
  });
});
