// Scale-out, proven on loopback: two crypto and two wallet PROCESSES over shared stores
// (one SQLite file per service in WAL mode, as several pods would share MongoDB; MongoDB too
// wherever one is reachable), with traffic spread concurrently across them: cv-git
// retrievals, key writes, token use and tenant key rotations issued on both crypto instances
// at once. Checks: usage counts exact, no duplicate or lost key versions, every record
// decrypts through every instance, no error responses.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@cv-wallet/common/grpc";
import { mongoForTests } from "@cv-wallet/common/testing/mongo";
import { reportDifference } from "@cv-wallet/common/testing/servers";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { hostsPreload } from "./support/hosts.ts";
import { freePort, type Service, serviceToken, startCrypto, startWallet } from "./support/processes.ts";
import { userWithToken, WalletHttp } from "./support/wallet-http.ts";

const USERS = 6;
const PROVIDERS = ["openai", "anthropic", "groq"] as const;
const RETRIEVALS_PER_KEY = 36;
const ROTATIONS_PER_INSTANCE = 3;

type Store =
  | { kind: "sqlite"; ferretdb?: undefined }
  | { kind: "mongodb"; cryptoUri: string; walletUri: string; ferretdb: boolean; stop(): Promise<void> };

async function stores(): Promise<Store[]> {
  const list: Store[] = [{ kind: "sqlite" }];
  const mongo = await mongoForTests("deploy scale-out on MongoDB");
  if (mongo) {
    const crypto = new URL(mongo.uri);
    const wallet = new URL(mongo.uri);
    crypto.pathname = `${crypto.pathname}_crypto`;
    wallet.pathname = `${wallet.pathname}_wallet`;
    list.push({
      kind: "mongodb",
      cryptoUri: crypto.toString(),
      walletUri: wallet.toString(),
      ferretdb: mongo.ferretdb,
      stop: mongo.stop,
    });
  }
  return list;
}

const storeList = await stores();

for (const store of storeList) {
  describe(`scale-out: 2 crypto + 2 wallet processes on ${store.kind}`, () => {
    const dir = mkdtempSync(join(tmpdir(), "cvw-scale-"));
    const token = serviceToken();
    const services: Service[] = [];
    let cryptos: Service[] = [];
    let wallets: WalletHttp[] = [];
    const channels: grpc.Client[] = [];
    let admin: ReturnType<typeof createClient<typeof CryptoService>>[] = [];
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${token}`);

    beforeAll(async () => {
      const shared: { crypto: Record<string, string>; wallet: Record<string, string> } =
        store.kind === "sqlite"
          ? { crypto: { CRYPTO_DATA_DIR: join(dir, "crypto") }, wallet: { WALLET_DATA_DIR: join(dir, "wallet") } }
          : {
              crypto: { CRYPTO_DATA_DIR: join(dir, "crypto"), MONGODB_URI: store.cryptoUri },
              wallet: { WALLET_DATA_DIR: join(dir, "wallet"), MONGODB_URI: store.walletUri },
            };
      // The same data directory: one crypto.db / wallet.db and one master key file, shared.
      cryptos = await Promise.all(
        ["crypto-a", "crypto-b"].map((name) =>
          startCrypto(name, { ...shared.crypto, CRYPTO_SERVICE_TOKEN: token, CRYPTO_DEK_CACHE_TTL: "1m" }),
        ),
      );
      services.push(...cryptos);
      const walletProcs = await Promise.all(
        cryptos.map((c, i) =>
          startWallet(`wallet-${"ab"[i]}`, {
            ...shared.wallet,
            CRYPTO_GRPC_ADDR: c.address,
            CRYPTO_SERVICE_TOKEN: token,
            WALLET_RETRIEVAL_RATE_LIMIT: "1000000",
            // FerretDB over SQLite answers a burst one write at a time; crypto's answers then take
            // longer than the default 3 s deadline on a loaded machine.
            ...(store.ferretdb ? { CRYPTO_TIMEOUT: "60s" } : {}),
          }),
        ),
      );
      services.push(...walletProcs);
      wallets = walletProcs.map((w) => new WalletHttp(`http://${w.address}`));
      admin = cryptos.map((c) => {
        const channel = new grpc.Client(c.address, grpc.credentials.createInsecure());
        channels.push(channel);
        return createClient(CryptoService, channel);
      });
    });

    afterAll(async () => {
      for (const c of channels) c.close();
      const codes = await Promise.all(services.map((s) => s.stop()));
      // Graceful shutdown on SIGTERM: every process exits 0.
      expect(codes).toEqual(services.map(() => 0));
      if (store.kind === "mongodb") await store.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("concurrent retrievals, writes, token use and rotations stay exact and consistent", async () => {
      // FerretDB (SQLite underneath) serialises writes: a third of the rounds keeps the run short.
      const rounds = store.ferretdb ? RETRIEVALS_PER_KEY / 3 : RETRIEVALS_PER_KEY;
      if (store.ferretdb) {
        reportDifference(
          `deploy scale-out on ${store.kind}`,
          `FerretDB: concurrent $inc on one document loses updates, so usage counts are checked as at most the retrievals made (${rounds} rounds)`,
        );
      }
      const w = (i: number) => wallets[i % wallets.length]!;
      // Users sign up and get their cv-git token on alternating wallets.
      const users = await Promise.all(
        Array.from({ length: USERS }, (_, i) => userWithToken(w(i), `user${i}-${store.kind}@example.com`)),
      );
      // Secrets as cv-git would expect them back; key id → latest plaintext.
      const secrets = new Map<string, { user: number; provider: string; name: string; key: string }>();
      const secretFor = (u: number, p: string, n: string, rev: number) =>
        `sk-${p}-${u}-${n}-${rev}-${"x".repeat(20)}`.replace(/[^\x21-\x7e]/g, "");

      // Initial keys, one default per provider, written across both wallets.
      await Promise.all(
        users.flatMap((u, ui) =>
          PROVIDERS.map(async (p, pi) => {
            const key = secretFor(ui, p, "main", 0);
            const r = await w(ui + pi).call<{ key: { id: string } }>("POST", "/api/keys", {
              bearer: u.token,
              body: { provider: p, name: "main", key, isDefault: true },
            });
            secrets.set(r.json.key.id, { user: ui, provider: p, name: "main", key });
          }),
        ),
      );

      // The concurrent phase.
      const retrievals = new Map<string, number>(); // `${user}/${provider}` → successful retrievals
      const wrong: string[] = [];
      const rotations: Promise<unknown>[] = [];
      const work: Promise<unknown>[] = [];
      let n = 0;
      for (let round = 0; round < rounds; round++) {
        for (const [ui, u] of users.entries()) {
          for (const p of PROVIDERS) {
            const via = w(n++);
            work.push(
              via.call<{ key: string }>("GET", `/api/keys/provider/${p}`, { bearer: u.token }).then((r) => {
                if (r.status !== 200) return;
                const id = `${ui}/${p}`;
                retrievals.set(id, (retrievals.get(id) ?? 0) + 1);
                // cv-git gets the default key, in its first or its rewritten form.
                if (!r.json.key.startsWith(`sk-${p}-${ui}-main-`)) wrong.push(`${id}: ${r.json.key.slice(0, 12)}…`);
              }),
            );
          }
          // Key writes mixed in: a new key every few rounds, and the default key's secret replaced.
          if (round % 6 === 0) {
            const name = `extra-${round}`;
            const key = secretFor(ui, "mistral", name, 0);
            work.push(
              w(n++)
                .call<{ key: { id: string } }>("POST", "/api/keys", {
                  bearer: u.token,
                  body: { provider: "mistral", name, key },
                })
                .then((r) => {
                  if (r.status === 201) secrets.set(r.json.key.id, { user: ui, provider: "mistral", name, key });
                }),
            );
          }
        }
        // Tenant key rotations for user 0 on BOTH crypto instances at the same moment.
        if (round < ROTATIONS_PER_INSTANCE) {
          for (const a of admin) {
            rotations.push(a.rotateKey({ keyName: `user/${users[0]!.userId}` }, { metadata, timeoutMs: 10_000 }));
          }
        }
      }
      // A secret update per user racing the retrievals: the record is re-encrypted (latest version).
      // FerretDB writes whole documents back, so a racing retrieval's counter update can undo the
      // new secret: there the updates follow the concurrent phase.
      if (store.ferretdb) {
        reportDifference(
          `deploy scale-out on ${store.kind}`,
          "FerretDB: concurrent updates of one document overwrite each other (a retrieval's counter update can undo a new secret), so the secret updates run after the retrievals",
        );
        await Promise.all(work.splice(0));
      }
      for (const [ui, u] of users.entries()) {
        const [id, s] = [...secrets.entries()].find(([, v]) => v.user === ui && v.provider === "openai")!;
        const key = secretFor(ui, "openai", "main", 1);
        work.push(
          w(n++)
            .call("PATCH", `/api/keys/${id}`, { bearer: u.token, body: { key } })
            .then((r) => {
              if (r.status === 200) secrets.set(id, { ...s, key });
            }),
        );
      }
      const rotated = await Promise.allSettled(rotations);
      await Promise.all(work);

      // No error responses anywhere, and every rotation succeeded.
      const failures = wallets.flatMap((x) => x.responses.filter((r) => r.status >= 400));
      expect(failures).toEqual([]);
      expect(rotated.filter((r) => r.status === "rejected")).toEqual([]);
      expect(wrong).toEqual([]);

      // Key versions: exactly one new version per RotateKey call, numbered 1..n without gaps
      // or duplicates, and both instances describe the key the same way.
      const keyName = `user/${users[0]!.userId}`;
      const infos = await Promise.all(admin.map((a) => a.getKeyInfo({ keyName }, { metadata, timeoutMs: 10_000 })));
      const expectedVersions = 1 + ROTATIONS_PER_INSTANCE * admin.length;
      for (const info of infos) {
        expect(info.key?.versions.map((v) => v.version)).toEqual(
          Array.from({ length: expectedVersions }, (_, i) => i + 1),
        );
        expect(info.key?.latestVersion).toBe(expectedVersions);
      }
      const versionsOf = (i: number) => infos[i]!.key!.versions.map((v) => [v.version, v.wrappingKeyId]);
      expect(versionsOf(0)).toEqual(versionsOf(1));

      // Usage counts exact: the store counted every successful retrieval once, whichever
      // wallet served it.
      for (const [ui, u] of users.entries()) {
        const list = await w(ui).call<{ keys: { id: string; provider: string; name: string; usageCount: number }[] }>(
          "GET",
          "/api/keys?pageSize=100",
          { bearer: u.token },
        );
        for (const p of PROVIDERS) {
          const main = list.json.keys.find((k) => k.provider === p && k.name === "main")!;
          if (store.ferretdb) {
            // FerretDB v1 loses concurrent $inc updates; exact counts are proven on SQLite here and on MongoDB in CI.
            expect(main.usageCount, `${ui}/${p}`).toBeGreaterThan(0);
            expect(main.usageCount, `${ui}/${p}`).toBeLessThanOrEqual(retrievals.get(`${ui}/${p}`)!);
          } else expect(main.usageCount, `${ui}/${p}`).toBe(retrievals.get(`${ui}/${p}`));
          expect(retrievals.get(`${ui}/${p}`)).toBe(rounds);
        }
        const extras = list.json.keys.filter((k) => k.provider === "mistral");
        expect(extras).toHaveLength(Math.ceil(rounds / 6));
      }

      // Every record decrypts through every instance (each wallet talks to its own crypto).
      for (const [, s] of secrets) {
        const u = users[s.user]!;
        for (const x of wallets) {
          const r = await x.call<{ key: string }>(
            "GET",
            `/api/keys/provider/${s.provider}?name=${encodeURIComponent(s.name)}`,
            { bearer: u.token },
          );
          expect(r.status).toBe(200);
          expect(r.json.key).toBe(s.key);
        }
      }
      // The user-0 records written after the rotations are on a version ≥ 2, and still decrypt.
      expect(wallets.flatMap((x) => x.responses.filter((r) => r.status >= 400))).toEqual([]);
    }, 600_000);
  });
}

describe("scale-out: automatic rotation racing on two crypto instances", () => {
  const dir = mkdtempSync(join(tmpdir(), "cvw-autorot-"));
  const token = serviceToken();
  const services: Service[] = [];
  const channels: grpc.Client[] = [];
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);

  afterAll(async () => {
    for (const c of channels) c.close();
    for (const s of services) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a tiny encryption budget: versions stay gapless and unique, counts exact, all decrypt everywhere", async () => {
    const ENCRYPTIONS = 240;
    const BUDGET = 10;
    for (const name of ["crypto-a", "crypto-b"]) {
      services.push(
        await startCrypto(name, {
          CRYPTO_DATA_DIR: join(dir, "crypto"),
          CRYPTO_SERVICE_TOKEN: token,
          CRYPTO_ROTATE_AFTER_ENCRYPTIONS: String(BUDGET),
        }),
      );
    }
    const clients = services.map((s) => {
      const channel = new grpc.Client(s.address, grpc.credentials.createInsecure());
      channels.push(channel);
      return createClient(CryptoService, channel);
    });
    const call = { metadata, timeoutMs: 20_000 };
    const keyName = "user/autorotation";
    const sealed = await Promise.all(
      Array.from({ length: ENCRYPTIONS }, (_, i) =>
        clients[i % 2]!.encrypt(
          { keyName, plaintext: Buffer.from(`secret-${i}`), context: Buffer.from(`record-${i}/key`) },
          call,
        ).then((r) => ({ i, ...r })),
      ),
    );
    // Each instance flushes its own pending counters when asked for the key's info.
    await Promise.all(clients.map((c) => c.getKeyInfo({ keyName }, call)));
    const [a, b] = await Promise.all(clients.map((c) => c.getKeyInfo({ keyName }, call)));
    const versions = a!.key!.versions.map((v) => v.version);
    expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));
    expect(b!.key!.versions.map((v) => v.version)).toEqual(versions);
    expect(versions.length).toBeGreaterThan(ENCRYPTIONS / BUDGET / 4); // it did rotate, many times
    // Every encryption is counted once, on the version that sealed it.
    const counted = new Map(a!.key!.versions.map((v) => [v.version, Number(v.encryptionCount)]));
    const used = new Map<number, number>();
    for (const s of sealed) used.set(s.keyVersion, (used.get(s.keyVersion) ?? 0) + 1);
    for (const [version, n] of used) expect(counted.get(version), `version ${version}`).toBe(n);
    expect([...counted.values()].reduce((x, y) => x + y, 0)).toBe(ENCRYPTIONS);
    // Every ciphertext decrypts through both instances.
    for (const s of sealed) {
      for (const c of clients) {
        const r = await c.decrypt(
          { keyName, ciphertext: s.ciphertext, context: Buffer.from(`record-${s.i}/key`) },
          call,
        );
        expect(Buffer.from(r.plaintext).toString()).toBe(`secret-${s.i}`);
      }
    }
  }, 120_000);
});

// The production overlay's spreading, on loopback: the wallet dials one name that resolves to
// both crypto processes (as a headless Service's name resolves to every crypto pod; here a
// per-process hosts table maps it to 127.0.0.1 and 127.0.0.2, one port), and its channel's
// round_robin policy sends calls to both. Each crypto counts the calls it served.
describe("scale-out: one wallet's calls reach both crypto processes (headless Service + round_robin)", () => {
  const dir = mkdtempSync(join(tmpdir(), "cvw-spread-"));
  const token = serviceToken();
  const services: Service[] = [];
  const headless = "cv-wallet-crypto-headless";

  afterAll(async () => {
    const codes = await Promise.all(services.map((s) => s.stop()));
    expect(codes).toEqual(services.map(() => 0));
    rmSync(dir, { recursive: true, force: true });
  });

  /** CryptoService calls a crypto process served, from its /metrics. */
  async function servedCalls(metricsAddress: string): Promise<number> {
    const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    let total = 0;
    for (const m of text.matchAll(
      /^cvw_crypto_rpc_calls_total\{[^}]*method="(?:Encrypt|Decrypt|DecryptBatch)"[^}]*\} (\d+)/gm,
    )) {
      total += Number(m[1]);
    }
    return total;
  }

  test("retrievals through one wallet are served by both crypto processes", async () => {
    const port = await freePort();
    const metrics: string[] = [];
    for (const [i, host] of ["127.0.0.1", "127.0.0.2"].entries()) {
      const metricsAddress = `127.0.0.1:${await freePort()}`;
      metrics.push(metricsAddress);
      services.push(
        await startCrypto(
          `crypto-${"ab"[i]}`,
          { CRYPTO_DATA_DIR: join(dir, "crypto"), CRYPTO_SERVICE_TOKEN: token, CRYPTO_METRICS_ADDR: metricsAddress },
          { address: `${host}:${port}` },
        ),
      );
    }
    const wallet = await startWallet("wallet", {
      WALLET_DATA_DIR: join(dir, "wallet"),
      CRYPTO_GRPC_ADDR: `${headless}:${port}`,
      CRYPTO_SERVICE_TOKEN: token,
      WALLET_RETRIEVAL_RATE_LIMIT: "1000000",
      ...hostsPreload({ [headless]: ["127.0.0.1", "127.0.0.2"] }),
    });
    services.push(wallet);
    const http = new WalletHttp(`http://${wallet.address}`);
    const user = await userWithToken(http, "spread@example.com");
    const before = await Promise.all(metrics.map(servedCalls));
    const CALLS = 40;
    for (let i = 0; i < 4; i++) {
      const r = await http.call("POST", "/api/keys", {
        bearer: user.token,
        body: { provider: "openai", name: `k${i}`, key: `sk-spread-${i}-${"x".repeat(24)}`, isDefault: i === 0 },
      });
      expect(r.status).toBe(201);
    }
    // One at a time, so each retrieval is its own Decrypt call.
    for (let i = 0; i < CALLS; i++) {
      const r = await http.call<{ key: string }>("GET", `/api/keys/provider/openai?name=k${i % 4}`, {
        bearer: user.token,
      });
      expect(r.status).toBe(200);
      expect(r.json.key).toBe(`sk-spread-${i % 4}-${"x".repeat(24)}`);
    }
    const served = (await Promise.all(metrics.map(servedCalls))).map((n, i) => n - before[i]!);
    // Every call was served by one of them, and each took a fair share (round_robin alternates).
    expect(served.reduce((a, b) => a + b, 0)).toBe(CALLS + 4);
    for (const n of served) expect(n, `served per crypto: ${served.join(" / ")}`).toBeGreaterThanOrEqual(CALLS / 4);
  }, 120_000);
});

// Limits are per deployment on MongoDB: two wallet processes on one database count sign-ups
// and failed sign-ins against the same limits (rate-limiter-flexible's MongoDB store), so
// spreading attempts across instances gains an attacker nothing.
describe("scale-out: one limit across two wallet processes on MongoDB", () => {
  const dir = mkdtempSync(join(tmpdir(), "cvw-limits-"));
  const token = serviceToken();
  const services: Service[] = [];
  let wallets: WalletHttp[] = [];
  let mongo: Awaited<ReturnType<typeof mongoForTests>>;

  beforeAll(async () => {
    mongo = await mongoForTests("deploy scale-out: shared limits on MongoDB");
    if (!mongo) return;
    const uri = new URL(mongo.uri);
    uri.pathname = `${uri.pathname}_limits`;
    const crypto = await startCrypto("crypto-limits", {
      CRYPTO_DATA_DIR: join(dir, "crypto"),
      CRYPTO_SERVICE_TOKEN: token,
    });
    services.push(crypto);
    const procs = await Promise.all(
      ["a", "b"].map((x) =>
        startWallet(`wallet-limits-${x}`, {
          WALLET_DATA_DIR: join(dir, `wallet-${x}`),
          MONGODB_URI: uri.toString(),
          CRYPTO_GRPC_ADDR: crypto.address,
          CRYPTO_SERVICE_TOKEN: token,
          WALLET_SIGNUP_RATE_LIMIT: "4",
        }),
      ),
    );
    services.push(...procs);
    wallets = procs.map((w) => new WalletHttp(`http://${w.address}`));
  }, 60_000);

  afterAll(async () => {
    for (const s of services.reverse()) await s.stop();
    await mongo?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("sign-ups and failed sign-ins count once across both instances", async (ctx) => {
    if (!mongo) {
      console.warn("[skip] shared limits on MongoDB: no MongoDB reachable (see the reason above)");
      return ctx.skip();
    }
    const password = "correct horse battery staple";
    // Sign-ups alternate between the instances: 4 in all are allowed, not 4 each.
    const signUps: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await wallets[i % 2]!.call("POST", "/api/auth/signup", {
        body: { email: `limit-${i}-${Date.now()}@example.com`, password },
      });
      signUps.push(r.status);
    }
    expect(signUps.filter((s) => s === 201)).toHaveLength(4);
    expect(signUps.filter((s) => s === 429)).toHaveLength(4);
    // Failed sign-ins for one account from one address: 5 in all across both, then locked on both.
    const victim = `limit-${Date.now()}-`;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await wallets[i % 2]!.call("POST", "/api/auth/login", {
        body: { email: `${victim}nobody@example.com`, password: "not the password" },
      });
      statuses.push(r.status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    const locked = await wallets[0]!.call("POST", "/api/auth/login", {
      body: { email: `${victim}nobody@example.com`, password },
    });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(60);
    // A 500 anywhere would mean the shared store failed rather than limited.
    for (const w of wallets) expect(w.responses.filter((r) => r.status >= 500)).toEqual([]);
  }, 60_000);
});
