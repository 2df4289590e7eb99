// The crypto service benchmark (`npm run bench -w services/crypto`). Every number is reported
// against baselines measured in the same process, same harness, same payload:
//   - a bare grpc-js echo service (the transport limit),
//   - in-process AES-256-GCM with the same envelope (the cipher limit),
//   - the AWS Encryption SDK for JavaScript with a caching materials manager (the alternative).
// The crypto service and the echo service each run as their own process (`node src/main.ts`,
// as deployed); the load generator is this process, so client cost is the same for both.
// Writes .reports/benchmark.json and .reports/benchmark.md (a recorded run is committed in
// docs/). Not a test: nothing here asserts timing.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@cv-wallet/common/grpc";
import {
  CryptoService,
  DecryptRequestSchema,
  EncryptRequestSchema,
  EncryptResponseSchema,
} from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { seal } from "../src/keyring/envelope.ts";

const SERVICE_DIR = join(import.meta.dirname, "..");

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = [1, 16, 64];
const PLAINTEXT = randomBytes(100);
const CONTEXT = Buffer.from("record-0123456789abcdef/key");
const TOKEN = randomBytes(32).toString("base64url");
const LOAD_AT_START = loadavg().map((l) => Number(l.toFixed(2)));

interface Result {
  name: string;
  concurrency: number;
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  rssMiB: number;
  /** Server CPU time (user + system) per call: steadier than throughput on a busy machine. */
  serverCpuUsPerOp?: number;
}

/** Runs `call` from `concurrency` loops for SECONDS; latency per call. */
interface Samples {
  latencies: number[];
  seconds: number;
  cpuSeconds: number;
}

/** Runs `call` from `concurrency` loops for `seconds`, adding to `into`. */
async function sample(
  into: Samples,
  concurrency: number,
  seconds: number,
  call: () => Promise<unknown>,
): Promise<void> {
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await call();
        into.latencies.push(performance.now() - t);
      }
    }),
  );
  into.seconds += (performance.now() - started) / 1000;
}

function summarize(name: string, concurrency: number, s: Samples): Result {
  const sorted = s.latencies.sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
  return {
    name,
    concurrency,
    ops: sorted.length,
    opsPerSec: sorted.length / s.seconds,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  };
}

async function measure(name: string, concurrency: number, call: () => Promise<unknown>): Promise<Result> {
  for (let i = 0; i < 200; i++) await call(); // warm up
  const s: Samples = { latencies: [], seconds: 0, cpuSeconds: 0 };
  await sample(s, concurrency, SECONDS, call);
  return summarize(name, concurrency, s);
}

/**
 * Measures several cases in short alternating rounds, so that load from elsewhere on the
 * machine drifting during the run weighs on every case alike (the ratios are what matter).
 */
async function interleaved(concurrency: number, cases: [string, Child, () => Promise<unknown>][]): Promise<Result[]> {
  const ROUNDS = 6;
  const samples: Samples[] = cases.map(() => ({ latencies: [], seconds: 0, cpuSeconds: 0 }));
  for (const [, , call] of cases) for (let i = 0; i < 200; i++) await call();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [, child, call]] of cases.entries()) {
      const cpu = child.cpuSeconds();
      await sample(samples[i]!, concurrency, SECONDS / ROUNDS, call);
      samples[i]!.cpuSeconds += child.cpuSeconds() - cpu;
    }
  }
  return cases.map(([name, child], i) => ({
    ...summarize(name, concurrency, samples[i]!),
    rssMiB: child.rssMiB(),
    serverCpuUsPerOp: (samples[i]!.cpuSeconds * 1e6) / samples[i]!.latencies.length,
  }));
}

/** A synchronous loop, for the in-process cipher. */
function measureSync(name: string, fn: () => unknown): Result {
  for (let i = 0; i < 1000; i++) fn();
  let ops = 0;
  const started = performance.now();
  const end = started + SECONDS * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) fn();
    ops += 100;
  }
  const elapsed = (performance.now() - started) / 1000;
  const per = (elapsed * 1000) / ops;
  return {
    name,
    concurrency: 1,
    ops,
    opsPerSec: ops / elapsed,
    p50Ms: per,
    p99Ms: per,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
  };
}

interface Child {
  address: string;
  metricsAddress?: string;
  rssMiB(): number;
  /** User + system CPU seconds the process has used. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/** Starts a server process and waits for the log line that carries its address. */
function spawnServer(args: string[], env: Record<string, string>, ready: string): Promise<Child> {
  const child = spawn(process.execPath, args, {
    cwd: SERVICE_DIR,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  // A bench stopped half-way (Ctrl-C, turbo cancelling) must not leave servers behind.
  process.once("exit", () => child.kill("SIGTERM"));
  let address = "";
  let metricsAddress: string | undefined;
  return new Promise((resolve, reject) => {
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const entry = JSON.parse(line) as { msg?: string; address?: string; metricsAddress?: string };
      if (entry.address) address = entry.address;
      if (entry.metricsAddress) metricsAddress = entry.metricsAddress;
      if (entry.msg === ready) {
        resolve({
          address,
          ...(metricsAddress ? { metricsAddress } : {}),
          rssMiB: () => {
            const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
            return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
          },
          cpuSeconds: () => {
            // /proc/<pid>/stat: utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
            const fields = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
            return (Number(fields[11]) + Number(fields[12])) / 100;
          },
          stop: async () => {
            child.kill("SIGTERM");
            await exited;
          },
        });
      }
    });
  });
}

function startCrypto(dataDir: string, extra: Record<string, string> = {}): Promise<Child> {
  return spawnServer(
    ["src/main.ts"],
    {
      CRYPTO_GRPC_ADDR: "127.0.0.1:0",
      CRYPTO_DATA_DIR: dataDir,
      CRYPTO_SERVICE_TOKEN: TOKEN,
      CRYPTO_METRICS_ADDR: "127.0.0.1:0",
      LOG_LEVEL: "info",
      ...extra,
    },
    "crypto service ready",
  );
}

async function kmsDecryptCalls(child: Child): Promise<number> {
  const text = await (await fetch(`http://${child.metricsAddress}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith("cvw_crypto_kms_calls_total{") && l.includes('operation="decrypt"'))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), "cvw-crypto-bench-"));
  const results: Result[] = [];
  const notes: Record<string, unknown> = {};
  const crypto = await startCrypto(dataDir);
  const channel = new grpc.Client(crypto.address, grpc.credentials.createInsecure());
  const client = createClient(CryptoService, channel);
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${TOKEN}`);
  const opts = { metadata, timeoutMs: 30_000 };
  const sealed = await client.encrypt({ keyName: "user/bench", plaintext: PLAINTEXT, context: CONTEXT }, opts);

  // Echo: the request and response bytes an Encrypt call puts on the wire.
  const requestBytes = Buffer.from(
    toBinary(
      EncryptRequestSchema,
      create(EncryptRequestSchema, { keyName: "user/bench", plaintext: PLAINTEXT, context: CONTEXT }),
    ),
  );
  const responseBytes = Buffer.from(toBinary(EncryptResponseSchema, sealed));
  const echo = await spawnServer(["bench/echo-server.ts", responseBytes.toString("base64")], {}, "echo listening");
  const echoChannel = new grpc.Client(echo.address, grpc.credentials.createInsecure());
  // One client loop for every gRPC case: pre-encoded request bytes, response bytes not decoded,
  // so the rows differ only in what the server does (the generated client's own protobuf cost is
  // measured separately below).
  const raw = (channelOf: grpc.Client, path: string, bytes: Buffer) => () =>
    new Promise<void>((resolve, reject) =>
      channelOf.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        metadata,
        { deadline: Date.now() + 30_000 },
        (e) => (e ? reject(e) : resolve()),
      ),
    );
  const echoCall = raw(echoChannel, "/bench.Echo/Echo", requestBytes);
  const encryptCall = raw(channel, "/cvwallet.crypto.v1.CryptoService/Encrypt", requestBytes);
  const decryptRequest = create(DecryptRequestSchema, {
    keyName: "user/bench",
    ciphertext: sealed.ciphertext,
    context: CONTEXT,
  });
  const decryptCall = raw(
    channel,
    "/cvwallet.crypto.v1.CryptoService/Decrypt",
    Buffer.from(toBinary(DecryptRequestSchema, decryptRequest)),
  );

  for (const c of CONCURRENCY) {
    results.push(
      ...(await interleaved(c, [
        ["grpc echo (transport limit)", echo, echoCall],
        ["Encrypt (warm DEK cache)", crypto, encryptCall],
        ["Decrypt (warm DEK cache)", crypto, decryptCall],
      ])),
    );
    console.error(`concurrency ${c} done`);
  }
  // What a caller pays on top with the generated typed client (createClient: create, toBinary, fromBinary).
  results.push(
    ...(
      await interleaved(64, [
        ["grpc echo (transport limit)", echo, echoCall],
        [
          "Encrypt via generated client",
          crypto,
          () => client.encrypt({ keyName: "user/bench", plaintext: PLAINTEXT, context: CONTEXT }, opts),
        ],
        [
          "Decrypt via generated client",
          crypto,
          () => client.decrypt({ keyName: "user/bench", ciphertext: sealed.ciphertext, context: CONTEXT }, opts),
        ],
      ])
    ).slice(1),
  );

  // Batch: 100 items per call, counted per item.
  const batchItems = Array.from({ length: 100 }, () => ({
    keyName: "user/bench",
    plaintext: PLAINTEXT,
    context: CONTEXT,
  }));
  const batch = withRss(
    await measure("EncryptBatch ×100 (calls)", 16, () => client.encryptBatch({ items: batchItems }, opts)),
    crypto,
  );
  results.push({ ...batch, name: "EncryptBatch ×100 (items)", ops: batch.ops * 100, opsPerSec: batch.opsPerSec * 100 });

  // The cipher limit and the alternative, in this process.
  const dek = randomBytes(32);
  results.push(
    measureSync("in-process AES-256-GCM seal (cipher limit)", () => seal(dek, "user/bench", 1, PLAINTEXT, CONTEXT)),
  );
  results.push(...(await awsEncryptionSdk()));

  // Cold cache: every Decrypt a miss (one local-KMS unwrap), by alternating two tenants over a one-entry cache.
  const coldDir = mkdtempSync(join(tmpdir(), "cvw-crypto-bench-cold-"));
  const cold = await startCrypto(coldDir, { CRYPTO_DEK_CACHE_MAX_ENTRIES: "1" });
  const coldChannel = new grpc.Client(cold.address, grpc.credentials.createInsecure());
  const coldClient = createClient(CryptoService, coldChannel);
  const two = await Promise.all(
    ["user/c1", "user/c2"].map((k) => coldClient.encrypt({ keyName: k, plaintext: PLAINTEXT, context: CONTEXT }, opts)),
  );
  let flip = 0;
  results.push(
    withRss(
      await measure("Decrypt (cold: local KMS unwrap each call)", 1, () => {
        flip ^= 1;
        return coldClient.decrypt(
          { keyName: `user/c${flip + 1}`, ciphertext: two[flip]!.ciphertext, context: CONTEXT },
          opts,
        );
      }),
      cold,
    ),
  );
  coldChannel.close();
  await cold.stop();

  // KMS calls per 10,000 decrypts across 100 tenants, on a fresh (cold) instance.
  const tenants = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      client.encrypt({ keyName: `user/tenant${i}`, plaintext: PLAINTEXT, context: CONTEXT }, opts),
    ),
  );
  channel.close();
  await crypto.stop();
  const fresh = await startCrypto(dataDir);
  const freshChannel = new grpc.Client(fresh.address, grpc.credentials.createInsecure());
  const freshClient = createClient(CryptoService, freshChannel);
  for (let round = 0; round < 100; round++) {
    await Promise.all(
      tenants.map((t, i) =>
        freshClient.decrypt({ keyName: `user/tenant${i}`, ciphertext: t.ciphertext, context: CONTEXT }, opts),
      ),
    );
  }
  notes.kmsCallsPer10000DecryptsAcross100Tenants = await kmsDecryptCalls(fresh);
  freshChannel.close();
  await fresh.stop();
  echoChannel.close();
  await echo.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(coldDir, { recursive: true, force: true });

  report(results, notes);
}

function withRss(result: Result, child: Child): Result {
  return { ...result, rssMiB: child.rssMiB() };
}

async function awsEncryptionSdk(): Promise<Result[]> {
  const esdk = await import("@aws-crypto/client-node");
  const { encrypt, decrypt } = esdk.buildClient(esdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const keyring = new esdk.RawAesKeyringNode({
    keyNamespace: "cvw-bench",
    keyName: "wrapping",
    unencryptedMasterKey: randomBytes(32),
    wrappingSuite: esdk.RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const cmm = new esdk.NodeCachingMaterialsManager({
    backingMaterials: keyring,
    cache: esdk.getLocalCryptographicMaterialsCache(1000),
    maxAge: 5 * 60_000,
    maxMessagesEncrypted: 2 ** 32 - 1,
  });
  // Committing, unsigned suite: the closest match to AES-256-GCM envelopes without per-message ECDSA.
  const suiteId = esdk.AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
  const encryptionContext = { tenant: "user/bench", record: CONTEXT.toString() };
  const sealed = await encrypt(cmm, PLAINTEXT, { encryptionContext, suiteId, plaintextLength: PLAINTEXT.length });
  return [
    await measure("AWS Encryption SDK encrypt (caching CMM)", 16, () =>
      encrypt(cmm, PLAINTEXT, { encryptionContext, suiteId, plaintextLength: PLAINTEXT.length }),
    ),
    await measure("AWS Encryption SDK decrypt (caching CMM)", 16, () => decrypt(cmm, sealed.result)),
  ];
}

function report(results: Result[], notes: Record<string, unknown>) {
  const echoAt = (c: number) =>
    results.find((r) => r.name.startsWith("grpc echo") && r.concurrency === c)?.opsPerSec ?? Number.NaN;
  const cipher = results.find((r) => r.name.startsWith("in-process AES"))!.opsPerSec;
  const rows = results.map((r) => ({
    ...r,
    vsEcho:
      r.name.startsWith("in-process") || r.name.startsWith("AWS") ? undefined : r.opsPerSec / echoAt(r.concurrency),
    vsCipher: r.opsPerSec / cipher,
  }));
  const machine = {
    date: new Date().toISOString(),
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? "unknown"}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    secondsPerCell: SECONDS,
    // Other work on the machine skews every row; the ratios are only as good as this is low.
    loadAverageAtStart: LOAD_AT_START,
    loadAverageAtEnd: loadavg().map((l) => Number(l.toFixed(2))),
    plaintextBytes: PLAINTEXT.length,
    harness:
      "servers in their own processes (node src/main.ts, bench/echo-server.ts); load from one client process over one HTTP/2 channel on loopback; RSS is the server's (the client's for in-process rows)",
  };
  const f = (n: number | undefined, d = 0) => (n === undefined || Number.isNaN(n) ? "" : n.toFixed(d));
  const table = [
    "| case | conc. | ops/s | p50 ms | p99 ms | vs echo | vs cipher | RSS MiB | server CPU µs/op |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.concurrency} | ${f(r.opsPerSec)} | ${f(r.p50Ms, 3)} | ${f(r.p99Ms, 3)} | ${f(r.vsEcho, 2)} | ${f(r.vsCipher, 4)} | ${f(r.rssMiB)} | ${f(r.serverCpuUsPerOp)} |`,
    ),
  ].join("\n");
  const kms = `KMS calls per 10,000 decrypts across 100 tenants (cold instance): ${notes.kmsCallsPer10000DecryptsAcross100Tenants}`;
  console.log(`${table}\n\n${kms}`);
  // BENCH_REPORT_DIR: elsewhere than .reports (the smoke test's short run must not replace a real one).
  const docs = process.env.BENCH_REPORT_DIR ?? join(import.meta.dirname, "../.reports");
  mkdirSync(docs, { recursive: true });
  writeFileSync(join(docs, "benchmark.json"), `${JSON.stringify({ machine, results: rows, notes }, null, 2)}\n`);
  writeFileSync(
    join(docs, "benchmark.md"),
    `# Crypto service benchmark\n\nCommand: \`npm run bench -w services/crypto\` (BENCH_SECONDS=${SECONDS} per cell).\n\n` +
      `Machine: ${machine.cpus}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.platform}; ${machine.date}.\n` +
      `Load average (1/5/15 min) at start ${machine.loadAverageAtStart.join(" / ")}, at end ${machine.loadAverageAtEnd.join(" / ")}.\n` +
      `Harness: ${machine.harness}; ${PLAINTEXT.length}-byte plaintext.\n\n${table}\n\n${kms}\n`,
  );
}

await main();
