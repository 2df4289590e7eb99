// What the wallet keeps at rest and how it behaves when the crypto service is gone: the
// SQLite files never hold a key's plaintext, a ciphertext moved to another record does not
// decrypt, a crypto outage answers 503 and writes nothing, and recovery needs no restart.
// The logs of both services, captured for the whole file, hold no secret.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCryptoClient } from "../src/clients/crypto.ts";
import { type Account, createKey, createToken, PASSWORD, rest, type Stack, signUp, startStack } from "./stack.ts";

let stack: Stack;
let base: string;
const secrets: string[] = [PASSWORD];

beforeAll(async () => {
  stack = await startStack();
  base = stack.url;
});
afterAll(async () => {
  // Last: everything this file did is in the captured logs by now.
  const logs = stack.logs();
  expect(logs.length).toBeGreaterThan(0);
  for (const s of secrets) expect(logs.includes(s), "a secret reached a log line").toBe(false);
  await stack?.stop();
});

function sqliteBytes(): Buffer {
  const dir = join(stack.dir, "wallet");
  return Buffer.concat(
    readdirSync(dir)
      .filter((f) => f.startsWith("wallet.db"))
      .map((f) => readFileSync(join(dir, f))),
  );
}

describe("at rest", () => {
  let a: Account;
  let token: string;
  beforeAll(async () => {
    a = await signUp(base);
    secrets.push(a.cookie.split("=")[1]!);
    token = (await createToken(base, a)).secret;
    secrets.push(token);
  });

  it("the SQLite file and its WAL never contain a stored key's plaintext, a token or a password", async () => {
    const keys: string[] = [];
    for (const provider of ["openai", "anthropic", "groq"]) {
      const k = await createKey(
        base,
        { token },
        { provider, key: `${provider}-PLAINTEXT-${Math.random().toString(36).slice(2)}` },
      );
      keys.push(k.key);
      secrets.push(k.key);
      await rest(base, "GET", `/api/keys/provider/${provider}`, undefined, { token });
    }
    // Rotate one: the old plaintext must not linger either.
    const rotated = await createKey(base, { token }, { provider: "mistral", key: "mistral-PLAINTEXT-old-1234" });
    await rest(base, "PATCH", `/api/keys/${rotated.id}`, { key: "mistral-PLAINTEXT-new-5678" }, { token });
    keys.push("mistral-PLAINTEXT-old-1234", "mistral-PLAINTEXT-new-5678");
    secrets.push(...keys);
    const bytes = sqliteBytes();
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.includes(Buffer.from("cvw:v1:"))).toBe(true);
    for (const s of [...keys, token, PASSWORD, a.cookie.split("=")[1]!]) {
      expect(bytes.includes(Buffer.from(s)), "plaintext found in the SQLite files").toBe(false);
    }
    // Not even the distinctive middle part of a key.
    expect(bytes.includes(Buffer.from("PLAINTEXT"))).toBe(false);
  });

  it("after a key's deletion and an account's deletion, no wallet file holds their ciphertexts", async () => {
    const walletFiles = () => {
      const dir = join(stack.dir, "wallet");
      return Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));
    };
    const store = stack.wallet.store;
    // One key deleted on its own.
    const single = await createKey(
      base,
      { token },
      { provider: "together", name: "doomed", key: "together-doomed-secret-77" },
    );
    secrets.push(single.key);
    const singleCiphertext = (await store.keys.get(a.userId, single.id))!.ciphertext;
    expect(walletFiles().includes(Buffer.from(singleCiphertext))).toBe(true);
    expect((await rest(base, "DELETE", `/api/keys/${single.id}`, undefined, { token })).status).toBe(200);
    expect(walletFiles().includes(Buffer.from(singleCiphertext)), "deleted key's ciphertext on disk").toBe(false);

    // A whole account.
    const gone = await signUp(base);
    secrets.push(gone.cookie.split("=")[1]!);
    const ciphertexts: string[] = [];
    for (const provider of ["openai", "groq"]) {
      const k = await createKey(base, { cookie: gone.cookie }, { provider, key: `${provider}-leaving-secret-0001` });
      secrets.push(k.key);
      ciphertexts.push((await store.keys.get(gone.userId, k.id))!.ciphertext);
    }
    const r = await rest(base, "DELETE", "/api/auth/account", { password: PASSWORD }, gone);
    expect(r.status).toBe(200);
    const bytes = walletFiles();
    for (const c of ciphertexts)
      expect(bytes.includes(Buffer.from(c)), "deleted account's ciphertext on disk").toBe(false);
    expect(bytes.includes(Buffer.from(gone.email))).toBe(false);
  });

  it("a ciphertext copied onto another record (or another user's) fails to decrypt", async () => {
    const victim = await createKey(
      base,
      { token },
      { provider: "cohere", name: "victim", key: "cohere-victim-secret-1" },
    );
    const other = await createKey(base, { token }, { provider: "cohere", name: "other", key: "cohere-other-secret-2" });
    secrets.push(victim.key, other.key);
    const store = stack.wallet.store;
    const victimRecord = await store.keys.get(a.userId, victim.id);
    await store.keys.update(a.userId, other.id, { ciphertext: victimRecord!.ciphertext, updatedAt: new Date() });
    const r = await rest(base, "POST", `/api/keys/${other.id}/reveal`, undefined, { token });
    expect([r.status, r.body.error.code]).toEqual([412, "failed_precondition"]);
    expect(r.text).not.toContain("victim-secret");
    expect((await rest(base, "GET", `/api/keys/${other.id}`, undefined, { token })).body.key.usageCount).toBe(0);
    // Concurrent retrievals travel as one DecryptBatch: each item still gets its own answer.
    const both = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        rest(base, "POST", `/api/keys/${i % 2 ? other.id : victim.id}/reveal`, undefined, { token }),
      ),
    );
    expect(both.map((r) => r.status)).toEqual([200, 412, 200, 412, 200, 412]);
    expect(both[0]!.body.key).toBe(victim.key);

    // Another user's record holding the same ciphertext fails too (different tenant key and context).
    const b = await signUp(base);
    const bToken = (await createToken(base, b)).secret;
    secrets.push(bToken);
    const bKey = await createKey(base, { token: bToken }, { provider: "cohere", name: "b", key: "cohere-b-secret-3" });
    secrets.push(bKey.key);
    await store.keys.update(b.userId, bKey.id, { ciphertext: victimRecord!.ciphertext, updatedAt: new Date() });
    const stolen = await rest(base, "GET", "/api/keys/provider/cohere?name=b", undefined, { token: bToken });
    expect(stolen.status).toBe(412);
    expect(stolen.text).not.toContain("victim-secret");
  });
});

describe("the crypto client", () => {
  it("sends decrypts made in one turn as one DecryptBatch, answering each on its own", async () => {
    const calls: string[] = [];
    const client = createCryptoClient({
      address: stack.crypto()!.address,
      token: stack.cryptoToken,
      timeoutMs: 2000,
      logger: captureLogs().logger,
      onCall: (method, code) => calls.push(`${method}:${code}`),
    });
    try {
      const a = await client.encrypt("0123456789abcdef01234567", "rec-a", "key", "plain-a-secret");
      const b = await client.encrypt("0123456789abcdef01234567", "rec-b", "key", "plain-b-secret");
      secrets.push("plain-a-secret", "plain-b-secret");
      calls.length = 0;
      const results = await Promise.allSettled([
        client.decrypt("0123456789abcdef01234567", "rec-a", "key", a.ciphertext),
        client.decrypt("0123456789abcdef01234567", "rec-b", "key", b.ciphertext),
        // b's ciphertext presented as a's record: the context does not match.
        client.decrypt("0123456789abcdef01234567", "rec-a", "key", b.ciphertext),
      ]);
      expect(calls).toEqual(["DecryptBatch:ok"]);
      expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as { code: string }).code))).toEqual([
        "plain-a-secret",
        "plain-b-secret",
        "failed_precondition",
      ]);
      expect(await client.decrypt("0123456789abcdef01234567", "rec-a", "key", a.ciphertext)).toBe("plain-a-secret");
      expect(calls.at(-1)).toBe("Decrypt:ok");
    } finally {
      client.close();
    }
  });
});

describe("crypto service outage", () => {
  it("answers 503 and writes nothing while it is down; works again once it is back, without a restart", async () => {
    const a = await signUp(base);
    const token = (await createToken(base, a)).secret;
    secrets.push(token);
    const k = await createKey(base, { token }, { provider: "openai", key: "sk-proj-before-outage-01" });
    secrets.push(k.key);
    // Read once before the outage, so the (hourly) metadata-read audit event is already there.
    expect((await rest(base, "GET", "/api/keys", undefined, { token })).status).toBe(200);
    const auditBefore = (await rest(base, "GET", "/api/audit", undefined, { token })).body.events.length;

    await stack.stopCrypto();
    const create = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "groq", name: "g", key: "gsk_during_outage_1" },
      { token },
    );
    expect([create.status, create.body.error.code]).toEqual([503, "unavailable"]);
    const update = await rest(base, "PATCH", `/api/keys/${k.id}`, { key: "sk-proj-during-outage-2" }, { token });
    expect(update.status).toBe(503);
    const recheck = await rest(
      base,
      "PATCH",
      `/api/keys/${k.id}`,
      // A move to another provider reads the stored secret (its prefix, the check).
      { name: "renamed-in-outage", provider: "anthropic", validate: true },
      { token },
    );
    expect(recheck.status).toBe(503);
    const fetchKey = await rest(base, "GET", "/api/keys/provider/openai", undefined, { token });
    expect([fetchKey.status, fetchKey.body.error.code]).toEqual([503, "unavailable"]);
    expect((await rest(base, "POST", `/api/keys/${k.id}/reveal`, undefined, { token })).status).toBe(503);
    const del = await rest(base, "DELETE", "/api/auth/account", { password: PASSWORD }, a);
    expect(del.status).toBe(503);
    const ready = await rest(base, "GET", "/readyz");
    expect([ready.status, ready.body.error.code]).toEqual([503, "unavailable"]);

    // Nothing was written: no new record, no changed record, no usage, no audit event; the account is intact.
    const keys = (await rest(base, "GET", "/api/keys", undefined, { token })).body.keys;
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ id: k.id, last4: "e-01", usageCount: 0, name: k.body.key.name });
    expect((await rest(base, "GET", "/api/audit", undefined, { token })).body.events).toHaveLength(auditBefore);
    expect((await rest(base, "GET", "/api/auth/me", undefined, a)).status).toBe(200);

    await stack.startCrypto();
    await new Promise((r) => setTimeout(r, 1100)); // readiness is cached for a second
    expect((await rest(base, "GET", "/readyz")).status).toBe(200);
    expect((await rest(base, "GET", "/api/keys/provider/openai", undefined, { token })).body).toEqual({ key: k.key });
    const again = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "groq", name: "g", key: "gsk_after_outage_3" },
      { token },
    );
    expect(again.status).toBe(201);
    secrets.push("gsk_after_outage_3", "gsk_during_outage_1", "sk-proj-during-outage-2");
  });
});

describe("the web UI", () => {
  it("serves the built UI at / with the SPA fallback, and keeps /api JSON", async () => {
    const webDir = join(stack.dir, "web-build");
    mkdirSync(join(webDir, "_app"), { recursive: true });
    writeFileSync(join(webDir, "index.html"), "<!doctype html><title>cv-wallet</title>");
    writeFileSync(join(webDir, "_app", "app.js"), "console.log(1)");
    const ui = await stack.startAnotherWallet({ webDir });
    const index = await fetch(`${ui.url}/`);
    expect(index.status).toBe(200);
    expect(await index.text()).toContain("cv-wallet");
    expect(index.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(await fetch(`${ui.url}/_app/app.js`).then((r) => r.text())).toBe("console.log(1)");
    const deep = await fetch(`${ui.url}/keys/some-key`);
    expect([deep.status, await deep.text()]).toEqual([200, "<!doctype html><title>cv-wallet</title>"]);
    const api = await rest(ui.url, "GET", "/api/unknown");
    expect([api.status, api.body.error.code]).toEqual([404, "not_found"]);
    expect((await rest(ui.url, "GET", "/healthz")).body).toEqual({ status: "ok" });
  });
});
