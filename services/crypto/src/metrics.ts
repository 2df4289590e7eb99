// Prometheus metrics, one registry per server instance (tests run several in one process).
// Node's default process_* / nodejs_* metrics keep their standard names so stock dashboards
// match, and every series carries service="crypto" (the wallet's carry service="wallet").
// Labels are method names, lower-case snake status codes (`ok`, `not_found`, …) and KMS
// operations only: never a key name, which names a tenant, and never anything secret.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export class CryptoMetrics {
  readonly registry: Registry = metricsRegistry();
  readonly cacheHits = new Counter({
    name: "cvw_crypto_dek_cache_hits_total",
    help: "DEK cache hits",
    registers: [this.registry],
  });
  readonly cacheMisses = new Counter({
    name: "cvw_crypto_dek_cache_misses_total",
    help: "DEK cache misses (each is one KMS unwrap, shared by concurrent callers)",
    registers: [this.registry],
  });
  /** Set by the server to the DEK cache's size. */
  cacheSize: () => number = () => 0;
  readonly cacheEntries: Gauge = new Gauge({
    name: "cvw_crypto_dek_cache_entries",
    help: "DEKs held in memory",
    registers: [this.registry],
    collect: (): void => this.cacheEntries.set(this.cacheSize()),
  });
  readonly kmsCalls = new Counter({
    name: "cvw_crypto_kms_calls_total",
    help: "Calls to the key-encryption key (local master key or AWS KMS)",
    labelNames: ["kms", "operation", "outcome"] as const,
    registers: [this.registry],
  });
  readonly kmsSeconds = new Histogram({
    name: "cvw_crypto_kms_call_duration_seconds",
    help: "Key-encryption key call latency",
    labelNames: ["kms", "operation"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly rpcCalls = new Counter({
    name: "cvw_crypto_rpc_calls_total",
    help: "Finished RPCs by method and status code (lower-case snake Connect code name)",
    labelNames: ["method", "code"] as const,
    registers: [this.registry],
  });
  readonly rpcSeconds = new Histogram({
    name: "cvw_crypto_rpc_duration_seconds",
    help: "RPC latency by method and status code (lower-case snake Connect code name)",
    labelNames: ["method", "code"] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  readonly #rpcChildren = new Map<string, { calls: { inc(): void }; seconds: { observe(v: number): void } }>();

  /** Records one finished RPC; the labelled children are cached (resolving labels per call showed in profiles). */
  observeRpc(method: string, code: string, seconds: number): void {
    const key = `${method} ${code}`;
    let child = this.#rpcChildren.get(key);
    if (!child) {
      child = { calls: this.rpcCalls.labels(method, code), seconds: this.rpcSeconds.labels(method, code) };
      this.#rpcChildren.set(key, child);
    }
    child.calls.inc();
    child.seconds.observe(seconds);
  }

  /** Total KMS calls of one operation (tests and the benchmark read it). */
  async kmsCallCount(operation?: string): Promise<number> {
    const metric = await this.kmsCalls.get();
    return metric.values.filter((v) => !operation || v.labels.operation === operation).reduce((a, v) => a + v.value, 0);
  }
}

function metricsRegistry(): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service: "crypto" });
  collectDefaultMetrics({ register: registry });
  return registry;
}
