// The re-wrap command end to end, against the real services as processes:
//  - records: written under version 1, tenant keys rotated, the command run, crashed
//    (SIGKILL mid-run) and run again; every record is then on the latest version and still
//    decrypts through the wallet, min_decryption_version is raised, old ciphertexts are
//    refused, and a further run changes nothing (idempotent). A graceful interruption (the
//    SIGINT path) resumes the same way. A person's reminder webhook (its URL is encrypted under
//    their tenant key too) is re-wrapped with their keys and still delivers after the minimum
//    is raised; one that cannot be re-wrapped keeps its tenant's minimum where it is.
//  - keyring: data keys wrapped under KMS key A, the crypto service restarted on key B, the
//    command re-wraps every DEK (resuming after an interruption); with key A disabled every
//    record still decrypts after a cold restart.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@cv-wallet/common/grpc";
import { createLogger } from "@cv-wallet/common/logger";
import { mongoForTests } from "@cv-wallet/common/testing/mongo";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { openMongoStore } from "../../services/wallet/src/store/mongo/mongo-store.ts";
import type { Store } from "../../services/wallet/src/store/port.ts";
import { openSqliteStore } from "../../services/wallet/src/store/sqlite/sqlite-store.ts";
import { type KeyringSummary, type RecordsSummary, rewrapKeyring, rewrapRecords } from "../tools/rewrap.ts";
import { kmsForSuite, type TestKms } from "./support/kms.ts";
import { repoRoot } from "./support/paths.ts";
import { type Service, serviceToken, startCrypto, startWallet } from "./support/processes.ts";
import { userWithToken, WalletHttp } from "./support/wallet-http.ts";

/** Stands in for Slack: records every POST it is sent (path and JSON text). */
async function startReceiver() {
  const received: { path: string; text: string }[] = [];
  const server = http.createServer((req, res) => {
    let data = "";
    req.on("data", (c: Buffer) => {
      data += c.toString("utf8");
    });
    req.on("end", () => {
      let text = "";
      try {
        text = String((JSON.parse(data) as { text?: unknown }).text ?? "");
      } catch {
        // Recorded without text: the test then fails on it.
      }
      if (req.method === "POST") received.push({ path: req.url ?? "", text });
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    received,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const tool = join(repoRoot, "deploy", "tools", "rewrap.ts");

function runTool(
  args: string[],
  env: Record<string, string>,
  onStderrLine?: (line: string, child: ChildProcess) => void,
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tool, ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      const text = d.toString();
      stderr += text;
      for (const line of text.split("\n").filter(Boolean)) onStderrLine?.(line, child);
    });
    child.on("exit", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

type Mongo = Awaited<ReturnType<typeof mongoForTests>>;
const mongo: Mongo = await mongoForTests("deploy re-wrap on MongoDB");
const backends = mongo ? (["sqlite", "mongodb"] as const) : (["sqlite"] as const);
afterAll(async () => {
  await mongo?.stop();
});

for (const backend of backends) {
  describe(`rewrap records (${backend})`, () => {
    const dir = mkdtempSync(join(tmpdir(), "cvw-rewrap-"));
    const token = serviceToken();
    let crypto: Service;
    let wallet: Service;
    let http: WalletHttp;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let channel: grpc.Client;
    let admin: ReturnType<typeof createClient<typeof CryptoService>>;
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    const call = { metadata, timeoutMs: 10_000 };
    const walletEnv: Record<string, string> = {};
    const toolEnv: Record<string, string> = {};
    const users: { userId: string; token: string }[] = [];
    const written = new Map<string, { user: number; name: string; key: string }>();

    beforeAll(async () => {
      const suffix = `${Date.now().toString(36)}`;
      const database = (tag: string) => {
        const url = new URL(mongo!.uri);
        url.pathname = `${url.pathname}_${tag}${suffix}`;
        return url.toString();
      };
      if (backend === "mongodb") walletEnv.MONGODB_URI = database("w");
      walletEnv.WALLET_DATA_DIR = join(dir, "wallet");
      crypto = await startCrypto("crypto", {
        CRYPTO_DATA_DIR: join(dir, "crypto"),
        CRYPTO_SERVICE_TOKEN: token,
        ...(backend === "mongodb" ? { MONGODB_URI: database("c") } : {}),
      });
      wallet = await startWallet("wallet", {
        ...walletEnv,
        CRYPTO_GRPC_ADDR: crypto.address,
        CRYPTO_SERVICE_TOKEN: token,
        WALLET_RETRIEVAL_RATE_LIMIT: "1000000",
        // The reminder webhooks below post to a loopback receiver.
        WALLET_ALLOW_PRIVATE_BASE_URLS: "true",
      });
      receiver = await startReceiver();
      http = new WalletHttp(`http://${wallet.address}`);
      channel = new grpc.Client(crypto.address, grpc.credentials.createInsecure());
      admin = createClient(CryptoService, channel);
      Object.assign(toolEnv, walletEnv, { CRYPTO_GRPC_ADDR: crypto.address, CRYPTO_SERVICE_TOKEN: token });
    });

    afterAll(async () => {
      channel?.close();
      await receiver?.close();
      await wallet?.stop();
      await crypto?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    // The wallet's own store, opened beside the running wallet (as the command opens it).
    const openStore = async (): Promise<Store> =>
      walletEnv.MONGODB_URI
        ? openMongoStore(walletEnv.MONGODB_URI, createLogger({ service: "test", level: "silent" }))
        : openSqliteStore(walletEnv.WALLET_DATA_DIR!);
    async function allRecords() {
      const store = await openStore();
      try {
        return await store.keys.pageCiphertexts("", 10_000);
      } finally {
        await store.close();
      }
    }
    async function expectAllDecrypt() {
      for (const [, r] of written) {
        const u = users[r.user]!;
        const got = await http.call<{ key: string }>("GET", `/api/keys/provider/openai?name=${r.name}`, {
          bearer: u.token,
        });
        expect(got.status).toBe(200);
        expect(got.json.key).toBe(r.key);
      }
    }

    test("records under v1, rotate, crash mid-run, resume: all on the latest version, min raised, old refused", async () => {
      for (let u = 0; u < 3; u++) users.push(await userWithToken(http, `rewrap${u}-${backend}@example.com`));
      const counts = [40, 25, 15];
      for (const [u, user] of users.entries()) {
        for (let i = 0; i < counts[u]!; i++) {
          const name = `k${String(i).padStart(3, "0")}`;
          const key = `sk-${u}-${name}-${"q".repeat(24)}`;
          const r = await http.call<{ key: { id: string } }>("POST", "/api/keys", {
            bearer: user.token,
            body: { provider: "openai", name, key },
          });
          expect(r.status).toBe(201);
          written.set(r.json.key.id, { user: u, name, key });
        }
      }
      const before = await allRecords();
      expect(before).toHaveLength(80);
      expect(new Set(before.map((r) => r.keyVersion))).toEqual(new Set([1]));

      // Rotate users 0 and 1 (twice for user 0); user 2 stays on version 1.
      await admin.rotateKey({ keyName: `user/${users[0]!.userId}` }, call);
      await admin.rotateKey({ keyName: `user/${users[0]!.userId}` }, call);
      await admin.rotateKey({ keyName: `user/${users[1]!.userId}` }, call);
      const latest = [3, 2, 1];

      // Run 1: crashes (SIGKILL) once it has checkpointed its first batches. SIGSTOP first
      // freezes it at once, so the checkpoint can be looked at while it is mid-run.
      const state = join(dir, "records-state.json");
      let frozen: { cursor: string } | undefined;
      const first = await runTool(
        ["records", "--batch", "1", "--concurrency", "1", "--state", state],
        toolEnv,
        (line, child) => {
          if (frozen || !line.includes("scanned")) return;
          child.kill("SIGSTOP");
          frozen = JSON.parse(readFileSync(state, "utf8")) as { cursor: string };
          child.kill("SIGKILL");
        },
      );
      expect(first.signal).toBe("SIGKILL");
      expect(frozen?.cursor).toMatch(/^[0-9a-f]{24}$/);
      const mid = await allRecords();
      const done = mid.filter((r) => r.keyVersion > 1).length;
      expect(done).toBeGreaterThan(0);
      expect(done).toBeLessThan(written.size - counts[2]!); // not finished
      await expectAllDecrypt(); // a crash leaves every record readable

      // The old ciphertexts, kept to show they are refused once the minimum is raised.
      const oldOnes = before.filter((r) => r.userId !== users[2]!.userId);

      // Run 2: resumes from the checkpoint, finishes, raises the minimums.
      const second = await runTool(["records", "--batch", "7", "--state", state, "--raise-min"], toolEnv);
      expect(second.code, second.stderr).toBe(0);
      const summary = JSON.parse(second.stdout) as RecordsSummary;
      expect(summary.resumedFrom).toBeDefined();
      expect(summary.failed).toEqual([]);
      expect(second.stderr).toMatch(/resuming after record [0-9a-f]{24}/);
      expect(second.stderr).toMatch(/\d+ scanned · \d+ rewrapped/);
      expect(existsSync(state)).toBe(false);

      const after = await allRecords();
      expect(after).toHaveLength(80);
      for (const r of after) {
        const u = users.findIndex((x) => x.userId === r.userId);
        expect(r.keyVersion, `${r.id} of user ${u}`).toBe(latest[u]);
        expect(r.ciphertext.startsWith(`cvw:v${latest[u]}:`)).toBe(true);
      }
      await expectAllDecrypt();

      // min_decryption_version raised to the latest version where a rotation happened.
      for (const [u, user] of users.entries()) {
        const info = await admin.getKeyInfo({ keyName: `user/${user.userId}` }, call);
        expect(info.key?.minDecryptionVersion, `user ${u}`).toBe(latest[u]);
      }
      expect(summary.minRaised.map((m) => m.to).sort()).toEqual([2, 3]);
      // … and the old ciphertexts are refused.
      for (const r of oldOnes.slice(0, 10)) {
        const refused = admin.decrypt(
          { keyName: `user/${r.userId}`, ciphertext: r.ciphertext, context: Buffer.from(`${r.id}/key`) },
          call,
        );
        await expect(refused).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
      }

      // Run 3: nothing left to do.
      const third = await runTool(["records", "--state", state, "--raise-min"], toolEnv);
      expect(third.code).toBe(0);
      const again = JSON.parse(third.stdout) as RecordsSummary;
      expect(again).toMatchObject({ scanned: 80, rewrapped: 0, alreadyCurrent: 80, failed: [], minRaised: [] });
      expect(http.responses.filter((r) => r.status >= 400)).toEqual([]);
    }, 120_000);

    test("a graceful interruption (SIGINT path) keeps the state and the next run finishes", async () => {
      await admin.rotateKey({ keyName: `user/${users[2]!.userId}` }, call);
      const state = join(dir, "records-state-2.json");
      const abort = new AbortController();
      const quiet: string[] = [];
      const partial = await rewrapRecords({
        env: toolEnv,
        stateFile: state,
        batch: 4,
        signal: abort.signal,
        log: (line) => {
          quiet.push(line);
          if (line.includes("scanned")) abort.abort();
        },
      });
      expect(partial.scanned).toBe(4);
      expect(existsSync(state)).toBe(true);
      expect(quiet.at(-1)).toMatch(/interrupted; state kept/);
      const rest = await rewrapRecords({ env: toolEnv, stateFile: state, batch: 50, raiseMin: true, log: () => {} });
      expect(rest.resumedFrom).toBeDefined();
      expect(rest.failed).toEqual([]);
      expect(rest.rewrapped + partial.rewrapped).toBe(15);
      expect((await allRecords()).filter((r) => r.userId === users[2]!.userId).every((r) => r.keyVersion === 2)).toBe(
        true,
      );
      await expectAllDecrypt();
    }, 60_000);

    /** A person signed in (the webhook is session only) with one key and a reminder webhook set through the API. */
    async function personWithWebhook(email: string) {
      const signUp = await http.call<{ user: { id: string } }>("POST", "/api/auth/signup", {
        body: { email, password: "correct horse battery staple" },
      });
      expect(signUp.status).toBe(201);
      const cookie = (signUp.headers.get("set-cookie") ?? "").split(";")[0]!;
      const key = `sk-hook-${"w".repeat(24)}`;
      const made = await http.call("POST", "/api/keys", { cookie, body: { provider: "openai", name: "main", key } });
      expect(made.status).toBe(201);
      const path = `/services/T000/B000/${randomBytes(12).toString("hex")}`;
      const set = await http.call("PUT", "/api/account/webhook", { cookie, body: { url: receiver.url(path) } });
      expect(set.status).toBe(200);
      return { userId: signUp.json.user.id, cookie, path, keyName: `user/${signUp.json.user.id}` };
    }
    async function storedWebhook(userId: string) {
      const store = await openStore();
      try {
        return await store.webhooks.get(userId);
      } finally {
        await store.close();
      }
    }
    /** "Send test" through the wallet: it decrypts the stored URL and posts to it. */
    async function expectWebhookDelivers(person: { cookie: string; path: string }) {
      const before = receiver.received.length;
      const sent = await http.call<{ delivery: { delivered: boolean } }>("POST", "/api/account/webhook/test", {
        cookie: person.cookie,
      });
      expect(sent.status).toBe(200);
      expect(sent.json.delivery.delivered).toBe(true);
      expect(receiver.received.slice(before)).toEqual([{ path: person.path, text: expect.stringContaining("test") }]);
    }

    test("a person's reminder webhook is re-wrapped with their keys and still delivers after --raise-min", async () => {
      const person = await personWithWebhook(`hook-${backend}@example.com`);
      const v1 = (await storedWebhook(person.userId))!;
      expect(v1.keyVersion).toBe(1);
      await expectWebhookDelivers(person);

      await admin.rotateKey({ keyName: person.keyName }, call);
      const run = await runTool(["records", "--raise-min", "--state", join(dir, "records-state-hook.json")], toolEnv);
      expect(run.code, run.stderr).toBe(0);
      const summary = JSON.parse(run.stdout) as RecordsSummary;
      // Only this person has a webhook; every other tenant's was done by the tests above.
      expect(summary.webhooks).toEqual({
        scanned: 1,
        rewrapped: 1,
        alreadyCurrent: 0,
        changedConcurrently: 0,
        failed: [],
      });
      expect(summary.failed).toEqual([]);
      expect(summary.minRaised).toEqual([{ keyName: person.keyName, to: 2 }]);
      expect(run.stderr).toMatch(/webhooks: 1 scanned · 1 rewrapped/);

      // On the new version, the same webhook otherwise (a re-encryption, not an edit).
      const v2 = (await storedWebhook(person.userId))!;
      expect(v2.keyVersion).toBe(2);
      expect(v2.ciphertext.startsWith("cvw:v2:")).toBe(true);
      expect(v2).toEqual({ ...v1, ciphertext: v2.ciphertext, keyVersion: 2, lastDelivery: v2.lastDelivery });
      expect((await admin.getKeyInfo({ keyName: person.keyName }, call)).key?.minDecryptionVersion).toBe(2);
      // The old ciphertext is refused now: without the re-wrap, the reminders would have stopped here.
      await expect(
        admin.decrypt(
          { keyName: person.keyName, ciphertext: v1.ciphertext, context: Buffer.from(`${v1.id}/webhook_url`) },
          call,
        ),
      ).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
      await expectWebhookDelivers(person);

      // A further run finds it current.
      const again = await runTool(["records", "--raise-min", "--state", join(dir, "records-state-hook.json")], toolEnv);
      expect(again.code, again.stderr).toBe(0);
      expect((JSON.parse(again.stdout) as RecordsSummary).webhooks).toMatchObject({ scanned: 1, alreadyCurrent: 1 });
    }, 60_000);

    test("a webhook that cannot be re-wrapped is listed, and --raise-min leaves its tenant's minimum alone", async () => {
      const person = await personWithWebhook(`hook-stuck-${backend}@example.com`);
      const good = (await storedWebhook(person.userId))!;
      // Damaged the way a restore gone wrong could: the URL's ciphertext under another webhook
      // id, so it no longer authenticates (its context is `<id>/webhook_url`) and crypto refuses to re-wrap it.
      const store = await openStore();
      try {
        await store.webhooks.put({ ...good, id: "0123456789abcdef01234567", lastDelivery: undefined });
      } finally {
        await store.close();
      }
      await admin.rotateKey({ keyName: person.keyName }, call);
      const run = await runTool(["records", "--raise-min", "--state", join(dir, "records-state-stuck.json")], toolEnv);
      expect(run.code, run.stderr).toBe(1); // something failed
      const summary = JSON.parse(run.stdout) as RecordsSummary;
      expect(summary.failed).toEqual([]); // the person's key record moved
      expect(summary.webhooks.failed).toEqual([
        { id: "0123456789abcdef01234567", userId: person.userId, reason: expect.stringContaining("INVALID_ARGUMENT") },
      ]);
      expect(summary.minRaised).toEqual([]);
      expect(summary.minNotRaised).toEqual([
        {
          keyName: person.keyName,
          reason: expect.stringMatching(/^the person's reminder webhook still below version 2 /),
        },
      ]);
      expect((await admin.getKeyInfo({ keyName: person.keyName }, call)).key?.minDecryptionVersion).toBe(1);

      // Repaired, the next run moves it and raises the minimum; the webhook delivers on version 2.
      const repair = await openStore();
      try {
        await repair.webhooks.put(good);
      } finally {
        await repair.close();
      }
      const next = await runTool(["records", "--raise-min", "--state", join(dir, "records-state-stuck.json")], toolEnv);
      expect(next.code, next.stderr).toBe(0);
      const fixed = JSON.parse(next.stdout) as RecordsSummary;
      expect(fixed.webhooks).toMatchObject({ rewrapped: 1, failed: [] });
      expect(fixed.minRaised).toEqual([{ keyName: person.keyName, to: 2 }]);
      expect((await storedWebhook(person.userId))?.keyVersion).toBe(2);
      await expectWebhookDelivers(person);
    }, 60_000);

    test("interrupted among the webhooks, the next run resumes there (keys not walked again)", async () => {
      const people = [
        await personWithWebhook(`hook-a-${backend}@example.com`),
        await personWithWebhook(`hook-b-${backend}@example.com`),
      ];
      for (const p of people) await admin.rotateKey({ keyName: p.keyName }, call);
      const state = join(dir, "records-state-hooks.json");
      const abort = new AbortController();
      const partial = await rewrapRecords({
        env: toolEnv,
        stateFile: state,
        batch: 1,
        signal: abort.signal,
        log: (line) => {
          if (line.includes("webhooks: 1 scanned")) abort.abort();
        },
      });
      expect(partial.webhooks.scanned).toBe(1);
      expect(JSON.parse(readFileSync(state, "utf8"))).toMatchObject({ phase: "webhooks" });
      const lines: string[] = [];
      const rest = await rewrapRecords({
        env: toolEnv,
        stateFile: state,
        batch: 50,
        raiseMin: true,
        log: (line) => lines.push(line),
      });
      expect(lines[0]).toMatch(/^\[rewrap records\] resuming with the webhooks after user [0-9a-f]{24} /);
      expect(lines.some((l) => /^\[rewrap records\] \d+ scanned/.test(l))).toBe(false); // no key record batch again
      expect(rest.scanned).toBe(partial.scanned);
      // The totals carry over from the interrupted run: every webhook once, these two moved.
      const store = await openStore();
      try {
        expect(rest.webhooks.scanned).toBe((await store.webhooks.pageCiphertexts("", 10_000)).length);
      } finally {
        await store.close();
      }
      expect(rest.webhooks).toMatchObject({ rewrapped: 2, changedConcurrently: 0, failed: [] });
      for (const p of people) {
        expect((await storedWebhook(p.userId))?.keyVersion).toBe(2);
        expect(rest.minRaised).toContainEqual({ keyName: p.keyName, to: 2 });
        await expectWebhookDelivers(p);
      }
    }, 60_000);

    test("a record changed meanwhile is left as its owner wrote it (compare-and-set)", async () => {
      const store = await openStore();
      try {
        const [r] = await store.keys.pageCiphertexts("", 1);
        expect(
          await store.keys.replaceCiphertext(r!.id, "cvw:v1:not-what-is-stored", { ciphertext: "x", keyVersion: 9 }),
        ).toBe(false);
        expect((await store.keys.pageCiphertexts("", 1))[0]).toEqual(r);
      } finally {
        await store.close();
      }
    });
  });
}

describe("rewrap keyring: every data key moves to a new KMS key", () => {
  const dir = mkdtempSync(join(tmpdir(), "cvw-rewrap-kms-"));
  const token = serviceToken();
  let kms: TestKms;
  const services: Service[] = [];

  afterAll(async () => {
    for (const s of services) await s.stop();
    await kms?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("KMS key A → B, interrupted and resumed; A disabled, everything still decrypts", async () => {
    kms = await kmsForSuite("deploy re-wrap keyring (KMS key change)");
    const keyA = await kms.createKey();
    const keyB = await kms.createKey();
    const cryptoEnv = (keyId: string) => ({
      CRYPTO_DATA_DIR: join(dir, "crypto"),
      CRYPTO_SERVICE_TOKEN: token,
      ...kms.env(keyId),
    });
    const boot = async (keyId: string) => {
      const crypto = await startCrypto("crypto", cryptoEnv(keyId));
      const wallet = await startWallet("wallet", {
        WALLET_DATA_DIR: join(dir, "wallet"),
        CRYPTO_GRPC_ADDR: crypto.address,
        CRYPTO_SERVICE_TOKEN: token,
      });
      services.push(crypto, wallet);
      return { crypto, wallet, http: new WalletHttp(`http://${wallet.address}`) };
    };

    // Keys of 5 tenants under key A (one rotation each: 10 DEK versions in all).
    let { crypto, wallet, http } = await boot(keyA);
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    let channel = new grpc.Client(crypto.address, grpc.credentials.createInsecure());
    let admin = createClient(CryptoService, channel);
    const stored: { token: string; name: string; key: string }[] = [];
    for (let u = 0; u < 5; u++) {
      const user = await userWithToken(http, `kms${u}@example.com`);
      for (let i = 0; i < 2; i++) {
        const name = `k${i}`;
        const key = `sk-kms-${u}-${i}-${"z".repeat(24)}`;
        expect(
          (await http.call("POST", "/api/keys", { bearer: user.token, body: { provider: "openai", name, key } }))
            .status,
        ).toBe(201);
        stored.push({ token: user.token, name, key });
        if (i === 0) await admin.rotateKey({ keyName: `user/${user.userId}` }, { metadata, timeoutMs: 10_000 });
      }
    }
    channel.close();
    await wallet.stop();
    await crypto.stop();

    // KMS_KEY_ID changes to B; A stays enabled until the re-wrap is done.
    ({ crypto, wallet, http } = await boot(keyB));
    const env = { CRYPTO_GRPC_ADDR: crypto.address, CRYPTO_SERVICE_TOKEN: token };
    const state = join(dir, "keyring-state.json");
    const abort = new AbortController();
    const partial: KeyringSummary = await rewrapKeyring({
      env,
      stateFile: state,
      batch: 3,
      signal: abort.signal,
      log: (line) => {
        if (line.includes("page 1:")) abort.abort();
      },
    });
    expect(partial.pages).toBe(1);
    expect(existsSync(state)).toBe(true);
    const rest = await runTool(["keyring", "--page-size", "3", "--state", state], env);
    expect(rest.code, rest.stderr).toBe(0);
    const summary = JSON.parse(rest.stdout) as KeyringSummary;
    expect(summary.resumed).toBe(true);
    expect(summary.rewrapped).toBe(10);
    expect(summary.wrappingKeyId).toContain(keyB);
    channel = new grpc.Client(crypto.address, grpc.credentials.createInsecure());
    admin = createClient(CryptoService, channel);
    const listed = await admin.listKeys({ pageSize: 100 }, { metadata, timeoutMs: 10_000 });
    const wrappers = new Set(listed.keys.flatMap((k) => k.versions.map((v) => v.wrappingKeyId)));
    expect([...wrappers]).toEqual([summary.wrappingKeyId]);
    channel.close();

    // Key A disabled, cold restart (empty DEK cache): everything decrypts through key B alone.
    await kms.setEnabled(keyA, false);
    await wallet.stop();
    await crypto.stop();
    ({ crypto, wallet, http } = await boot(keyB));
    for (const s of stored) {
      const r = await http.call<{ key: string }>("GET", `/api/keys/provider/openai?name=${s.name}`, {
        bearer: s.token,
      });
      expect(r.status).toBe(200);
      expect(r.json.key).toBe(s.key);
    }
    // Idempotent: a second run finds nothing to move.
    const again = await runTool(["keyring", "--state", state], {
      CRYPTO_GRPC_ADDR: crypto.address,
      CRYPTO_SERVICE_TOKEN: token,
    });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ rewrapped: 0, unchanged: 10, resumed: false });
  }, 120_000);
});
