// Prometheus metrics. Labels are route patterns, method names, status codes and provider
// ids: never a key, token, email or record id. Conventions shared with the crypto service:
// prom-client's process_* / nodejs_* metrics under their standard names, every series
// labelled service="wallet", codes spelled as lower-case snake Connect code names.
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

export interface WalletMetrics {
  registry: Registry;
  httpRequest(method: string, route: string, status: number, seconds: number): void;
  rpc(method: string, code: string, seconds: number): void;
  cryptoCall(method: string, code: string, seconds: number): void;
  retrieval(provider: string, kind: string): void;
  webhookDelivery(event: string, outcome: string): void;
}

export function createMetrics(): WalletMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: "wallet" });
  collectDefaultMetrics({ register: registry });
  // prom-client also exports these three sums as gauges named *_total, which Prometheus
  // reserves for counters (promtool check metrics flags them); the per-type gauges
  // nodejs_active_handles / _requests / _resources carry the same numbers.
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) {
    registry.removeSingleMetric(name);
  }
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  const http = new Histogram({
    name: "wallet_http_request_duration_seconds",
    help: "REST and static requests by route pattern and status",
    labelNames: ["method", "route", "status"],
    buckets,
    registers: [registry],
  });
  const rpc = new Histogram({
    name: "wallet_rpc_duration_seconds",
    help: "Connect, gRPC-Web and gRPC calls to the wallet by method and code",
    labelNames: ["method", "code"],
    buckets,
    registers: [registry],
  });
  const crypto = new Histogram({
    name: "wallet_crypto_call_duration_seconds",
    help: "Calls to the crypto service by method and code",
    labelNames: ["method", "code"],
    buckets,
    registers: [registry],
  });
  const retrievals = new Counter({
    name: "wallet_key_retrievals_total",
    help: "Plaintext key retrievals by provider and kind (provider key or owner reveal)",
    labelNames: ["provider", "kind"],
    registers: [registry],
  });
  const webhooks = new Counter({
    name: "wallet_webhook_deliveries_total",
    help: "Reminder webhook deliveries (after their retries) by event (test, expiring, expired, invalid) and outcome",
    labelNames: ["event", "outcome"],
    registers: [registry],
  });
  return {
    registry,
    httpRequest: (method, route, status, seconds) => http.observe({ method, route, status: String(status) }, seconds),
    rpc: (method, code, seconds) => rpc.observe({ method, code }, seconds),
    cryptoCall: (method, code, seconds) => crypto.observe({ method, code }, seconds),
    retrieval: (provider, kind) => retrievals.inc({ provider, kind }),
    webhookDelivery: (event, outcome) => webhooks.inc({ event, outcome }),
  };
}
