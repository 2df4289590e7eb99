// `npm run bench -w services/wallet`: key retrieval throughput and latency.
//
//  1. the HTTP limit: a bare Express handler returning a fixed JSON body;
//  2. GET /api/keys/provider/openai (REST) and WalletService/GetProviderKey (Connect JSON)
//     with a bearer token (Connect's Node adapter with Express as its fallback, as served);
//  3. list latency (first page) for a user with 10 keys and one with 10,000.
//
// Each server is its own process (the crypto service too), so RSS is per service and
// autocannon does not share an event loop with what it measures. Concurrency 64, fixed
// duration (BENCH_SECONDS seconds, default 8). Prints a table and writes .reports/bench.json
// (BENCH_REPORT_DIR elsewhere).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { newId } from "../src/domain/ids.ts";
import { openSqliteStore } from "../src/store/sqlite/sqlite-store.ts";

const here = dirname(fileURLToPath(import.meta.url));
const walletDir = join(here, "..");
const cryptoDir = join(walletDir, "..", "crypto");
const DURATION = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = 64;
const tmp = mkdtempSync(join(tmpdir(), "wallet-bench-"));
const token = randomBytes(24).toString("base64url");
const children: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function rssMiB(child: ChildProcess): number {
  const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(child: ChildProcess): number {
  const fields = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Runs `fn` and reports each process's CPU milliseconds per request over it. */
async function withCpu(run: () => Promise<Run>, wallet: ChildProcess, crypto?: ChildProcess): Promise<Run> {
  const w0 = cpuSeconds(wallet);
  const c0 = crypto ? cpuSeconds(crypto) : 0;
  const r = await run();
  const requests = r.rps * DURATION;
  r.walletCpuMs = Number((((cpuSeconds(wallet) - w0) * 1000) / requests).toFixed(3));
  if (crypto) r.cryptoCpuMs = Number((((cpuSeconds(crypto) - c0) * 1000) / requests).toFixed(3));
  r.walletRss = rssMiB(wallet);
  if (crypto) r.cryptoRss = rssMiB(crypto);
  return r;
}

function spawnUntil(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  ready: RegExp,
): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) resolve({ child, line: m[0] });
    });
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited (${code})`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.removeAllListeners("exit");
  await new Promise((r) => {
    child.once("exit", r);
    child.kill("SIGTERM");
  });
}

interface Run {
  name: string;
  rps: number;
  /** Requests answered in the run (the per-second average can read 0 on a very short run). */
  requests: number;
  p50: number;
  p99: number;
  errors: number;
  walletRss?: number;
  cryptoRss?: number;
  walletCpuMs?: number;
  cryptoCpuMs?: number;
}

async function load(name: string, opts: autocannon.Options): Promise<Run> {
  const r = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...opts });
  return {
    name,
    rps: Math.round(r.requests.average),
    requests: r.requests.total,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + r.timeouts,
  };
}

async function json(url: string, init: RequestInit = {}): Promise<Record<string, unknown>> {
  const res = await fetch(url, { ...init, headers: { "content-type": "application/json", ...init.headers } });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/**
 * The wallet's decrypt calls to the crypto service so far, from its /metrics: seconds summed and
 * calls counted over Decrypt and DecryptBatch (under load the client batches concurrent decrypts).
 */
async function decryptMeanMs(url: string): Promise<{ sum: number; count: number }> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const total = (suffix: string) =>
    [
      ...text.matchAll(
        new RegExp(
          `^wallet_crypto_call_duration_seconds_${suffix}\\{[^}]*method="Decrypt(?:Batch)?",code="ok"[^}]*\\} (\\S+)$`,
          "gm",
        ),
      ),
    ].reduce((sum, m) => sum + Number(m[1]), 0);
  return { sum: total("sum"), count: total("count") };
}

/** Signs up, makes a token and stores one openai key; returns the bearer token. */
async function setUp(url: string, email: string): Promise<string> {
  const signup = await fetch(`${url}/api/auth/signup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: "benchmark password 1" }),
  });
  const cookie = signup.headers.get("set-cookie")!.split(";")[0]!;
  const t = await json(`${url}/api/tokens`, {
    method: "POST",
    headers: { cookie, origin: url },
    body: JSON.stringify({ name: "bench", scopes: ["keys:read", "keys:write"] }),
  });
  const secret = t.secret as string;
  await json(`${url}/api/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}` },
    body: JSON.stringify({ provider: "openai", name: "bench", key: "sk-proj-0123456789abcdef0123456789abcdef" }),
  });
  return secret;
}

const results: Run[] = [];
try {
  const cryptoAddr = `127.0.0.1:${await freePort()}`;
  const crypto = await spawnUntil(
    ["src/main.ts"],
    cryptoDir,
    {
      CRYPTO_GRPC_ADDR: cryptoAddr,
      CRYPTO_DATA_DIR: join(tmp, "crypto"),
      CRYPTO_SERVICE_TOKEN: token,
      LOG_LEVEL: "info",
    },
    /crypto service ready/,
  );

  const bare = await spawnUntil(["bench/serve.ts", "bare"], walletDir, {}, /READY (\S+)/);
  const bareUrl = bare.line.split(" ")[1]!;
  const baseline = await withCpu(() => load("bare Express handler (fixed JSON)", { url: `${bareUrl}/` }), bare.child);
  results.push(baseline);
  await stop(bare.child);

  const options = {
    httpAddr: "127.0.0.1:0",
    metricsAddr: "127.0.0.1:0",
    dataDir: join(tmp, "wallet"),
    crypto: { address: cryptoAddr, token },
    retrievalRateLimitPerMinute: 100_000_000,
    webDir: join(tmp, "no-ui"),
  };
  // BENCH_PROFILE=<dir> writes a V8 CPU profile of the wallet process there.
  const profile = process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const w = await spawnUntil(
    [...profile, "bench/serve.ts", "wallet", JSON.stringify(options)],
    walletDir,
    {},
    // The whole line: the URL and the metrics listener's URL (which has its own port).
    /READY (\S+) (\S+)\n/,
  );
  const url = w.line.split(" ")[1]!;
  const metricsUrl = w.line.split(" ")[2]!.trim();
  const bearer = await setUp(url, "bench@example.com");
  const headers = { authorization: `Bearer ${bearer}` };
  const d0 = await decryptMeanMs(metricsUrl);
  results.push(
    await withCpu(
      () => load("REST GET /api/keys/provider/openai", { url: `${url}/api/keys/provider/openai`, headers }),
      w.child,
      crypto.child,
    ),
    await withCpu(
      () =>
        load("Connect GetProviderKey", {
          url: `${url}/cvwallet.wallet.v1.WalletService/GetProviderKey`,
          method: "POST",
          headers: { ...headers, "content-type": "application/json" },
          body: JSON.stringify({ provider: "openai" }),
        }),
      w.child,
      crypto.child,
    ),
  );
  const d1 = await decryptMeanMs(metricsUrl);
  console.log(
    `crypto decrypt calls (Decrypt, DecryptBatch) as the wallet saw them: ${(((d1.sum - d0.sum) / Math.max(1, d1.count - d0.count)) * 1000).toFixed(2)} ms mean over ${d1.count - d0.count} calls`,
  );

  // List latency: one user with 10 keys, one with 10,000 (records written straight to the
  // store; listing never decrypts, so one real ciphertext serves them all).
  const small = await setUp(url, "list-10@example.com");
  const large = await setUp(url, "list-10000@example.com");
  const store = openSqliteStore(join(tmp, "wallet"));
  for (const [bearer, count] of [
    [small, 9],
    [large, 9_999],
  ] as const) {
    const me = await json(`${url}/api/auth/me`, { headers: { authorization: `Bearer ${bearer}` } });
    const userId = (me.user as { id: string }).id;
    const template = (await store.keys.forProvider(userId, "openai"))!;
    for (let i = 0; i < count; i++) {
      const at = new Date(Date.now() - i * 1000);
      await store.keys.create({
        ...template,
        id: newId(),
        name: `k${i}`,
        isDefault: false,
        createdAt: at,
        updatedAt: at,
      });
    }
  }
  await store.close();
  for (const [bearer, label] of [
    [small, "10 keys"],
    [large, "10,000 keys"],
  ] as const) {
    results.push(
      await load(`list first page (page_size=10), ${label}`, {
        url: `${url}/api/keys?page_size=10`,
        headers: { authorization: `Bearer ${bearer}` },
        connections: 8,
        duration: Math.max(3, Math.round(DURATION / 2)),
      }),
    );
  }
  await stop(w.child);
  await stop(crypto.child);

  const base = results[0]!.rps;
  const rows = results.map((r) => ({
    benchmark: r.name,
    "req/s": r.rps,
    // Only the runs at the same concurrency as the baseline compare with it.
    "× bare": r.name.startsWith("list") ? "" : (r.rps / base).toFixed(2),
    "p50 ms": r.p50,
    "p99 ms": r.p99,
    errors: r.errors,
    "wallet CPU ms/req": r.walletCpuMs ?? "",
    "crypto CPU ms/req": r.cryptoCpuMs ?? "",
    "wallet RSS MiB": r.walletRss ?? "",
    "crypto RSS MiB": r.cryptoRss ?? "",
  }));
  console.table(rows);
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  };
  console.log(
    JSON.stringify({ date: new Date().toISOString(), machine, durationSeconds: DURATION, connections: CONNECTIONS }),
  );
  // BENCH_REPORT_DIR: elsewhere than .reports (the smoke test's short run must not replace a real one).
  const reports = process.env.BENCH_REPORT_DIR ?? join(here, "..", ".reports");
  mkdirSync(reports, { recursive: true });
  writeFileSync(
    join(reports, "bench.json"),
    `${JSON.stringify({ date: new Date().toISOString(), command: "npm run bench -w services/wallet", machine, durationSeconds: DURATION, connections: CONNECTIONS, results: rows.map((row, i) => ({ ...row, requests: results[i]!.requests })) }, null, 2)}\n`,
  );
} finally {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  rmSync(tmp, { recursive: true, force: true });
}
