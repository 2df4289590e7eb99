// The wallet's handler on its own: createWalletHandler with a fake crypto port (an object
// implementing the domain's CryptoPort), a real SQLite store in memory and a fixed key
// checker, driven over a plain node:http server on port 0 by REST and a Connect client. No
// crypto service, no serve(), no module mocks: what the handler does with what its ports answer.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { AppError, unavailable } from "@cv-wallet/common/errors";
import { createLogger } from "@cv-wallet/common/logger";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWalletHandler } from "../src/app.ts";
import { configDefaults } from "../src/config.ts";
import { OncePer } from "../src/domain/limits.ts";
import type { CryptoPort } from "../src/domain/ports/crypto.ts";
import { createLimiters } from "../src/limits/limiters.ts";
import { createMetrics } from "../src/metrics.ts";
import type { Store } from "../src/store/port.ts";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { connectClient, createKey, createToken, rest, signUp } from "./stack.ts";

/** Seals by tagging: enough to see which record, field and tenant the domain asked for. */
class FakeCrypto implements CryptoPort {
  down = false;
  readonly calls: string[] = [];
  async encrypt(userId: string, recordId: string, field: string, plaintext: string) {
    this.calls.push(`encrypt ${userId} ${recordId}/${field}`);
    if (this.down) throw unavailable("the crypto service is unavailable; try again shortly");
    const sealed = Buffer.from(JSON.stringify([userId, recordId, field, plaintext])).toString("base64url");
    return { ciphertext: `cvw:v1:${sealed}`, keyVersion: 1 };
  }
  async decrypt(userId: string, recordId: string, field: string, ciphertext: string) {
    this.calls.push(`decrypt ${userId} ${recordId}/${field}`);
    if (this.down) throw unavailable("the crypto service is unavailable; try again shortly");
    const [u, r, f, plaintext] = JSON.parse(Buffer.from(ciphertext.slice(7), "base64url").toString()) as string[];
    // The same binding the real service enforces: another tenant, record or field fails.
    if (u !== userId || r !== recordId || f !== field) {
      throw new AppError("failed_precondition", "the stored key cannot be decrypted; store it again");
    }
    return plaintext!;
  }
  // Named keys: a tenant's is logged by its user id, as above.
  encryptUnder(keyName: string, recordId: string, field: string, plaintext: string) {
    return this.encrypt(keyName.replace(/^user\//, ""), recordId, field, plaintext);
  }
  decryptUnder(keyName: string, recordId: string, field: string, ciphertext: string) {
    return this.decrypt(keyName.replace(/^user\//, ""), recordId, field, ciphertext);
  }
  async destroyKey() {
    return 1;
  }
  async destroyTenant() {
    return 1;
  }
  async ping() {
    if (this.down) throw unavailable("down");
  }
  close() {}
}

describe("createWalletHandler with a fake crypto port", () => {
  const crypto = new FakeCrypto();
  let store: Store;
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    store = openSqliteStore(":memory:");
    const metrics = createMetrics();
    const handler = createWalletHandler({
      deps: {
        store,
        crypto,
        logger: createLogger({ service: "wallet", level: "silent" }),
        checker: { check: async () => ({ status: "unverified", detail: "not checked here", checkedAt: new Date() }) },
        assertSafeBaseUrl: async () => {},
        webhooks: {
          checkUrl: () => {},
          deliver: async () => ({ delivered: false, detail: "not sent here", attempts: 0, retryable: false }),
        },
        settings: { sessionTtlMs: 60_000, deviceCodeTtlMs: 600_000, devicePollIntervalSeconds: 5 },
        limits: {
          ...createLimiters({ retrievalsPerMinute: 1000, signUpsPerHour: 1000 }),
          metadataAudit: new OncePer(60_000),
        },
      },
      metrics,
      settings: { ...configDefaults(), webDir: "/nonexistent" },
    });
    server = http.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await store.close();
  });

  it("stores only what the port sealed, bound to the record's id and field, and returns it over Connect", async () => {
    const account = await signUp(base);
    const key = await createKey(base, { cookie: account.cookie });
    expect(crypto.calls).toContain(`encrypt ${account.userId} ${key.id}/key`);
    const stored = (await store.keys.get(account.userId, key.id))!;
    expect(stored.ciphertext).toMatch(/^cvw:v1:/);
    expect(stored.ciphertext).not.toContain(key.key);

    const token = await createToken(base, account, ["keys:read"]);
    const c = connectClient(base, { token: token.secret });
    expect((await c.getProviderKey({ provider: "openai" })).key).toBe(key.key);
    expect(crypto.calls).toContain(`decrypt ${account.userId} ${key.id}/key`);
    expect((await store.keys.get(account.userId, key.id))!.usageCount).toBe(1);
    const events = await store.audit.list(account.userId, "key.retrieved", 10);
    expect(events.items).toHaveLength(1);
    expect(events.items[0]).toMatchObject({
      actor: { type: "token", id: token.id },
      target: { type: "key", id: key.id },
    });
  });

  it("answers a crypto outage as unavailable (REST 503, Connect Unavailable, /readyz 503), never a 500", async () => {
    const account = await signUp(base);
    await createKey(base, { cookie: account.cookie });
    const token = await createToken(base, account, ["keys:read", "keys:write"]);
    crypto.down = true;
    try {
      const r = await rest(base, "GET", "/api/keys/provider/openai", undefined, { token: token.secret });
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe("unavailable");
      const add = await rest(
        base,
        "POST",
        "/api/keys",
        { provider: "openai", name: "x", key: `sk-proj-${"0a".repeat(16)}` },
        account,
      );
      expect(add.status).toBe(503);
      const rpc = await connectClient(base, { token: token.secret })
        .getProviderKey({ provider: "openai" })
        .then(() => undefined)
        .catch((e: unknown) => ConnectError.from(e));
      expect(rpc?.code).toBe(Code.Unavailable);
      expect((await fetch(`${base}/readyz`)).status).toBe(503);
    } finally {
      crypto.down = false;
    }
  });
});
