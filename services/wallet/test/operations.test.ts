// What an operator's usual tools see on a running wallet: a /metrics scrape that follows
// Prometheus conventions (checked by promtool) and counts REST, Connect and gRPC calls;
// readiness that makes no failing crypto call; and the gRPC listener answering server
// reflection and grpc.health.v1 (checked with the real grpcurl and with a generated client).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { WalletService } from "@cv-wallet/proto/wallet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
} from "../src/edge/grpc/gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1Alpha } from "../src/edge/grpc/gen/grpc/reflection/v1alpha/reflection_pb.js";
import { descriptorRegistry } from "../src/edge/grpc/reflection.ts";
import type { RunningWallet } from "../src/start.ts";
import { createKey, createToken, rest, type Stack, signUp, startStack } from "./stack.ts";

const run = promisify(execFile);

/** A tool on PATH or at a usual place, else why not (printed with the skip). */
function tool(name: string, places: string[]): { path?: string; reason?: string } {
  for (const p of places) if (existsSync(p)) return { path: p };
  return { reason: `${name} not found (looked in ${places.join(", ")})` };
}
const promtool = tool("promtool", ["/usr/bin/promtool", "/usr/local/bin/promtool"]);
const grpcurl = tool("grpcurl", [
  join(homedir(), "go", "bin", "grpcurl"),
  "/usr/local/bin/grpcurl",
  "/usr/bin/grpcurl",
]);

let stack: Stack;
let wallet: RunningWallet;
let token: string;
beforeAll(async () => {
  stack = await startStack();
  wallet = await stack.startAnotherWallet({ grpcAddr: "127.0.0.1:0" });
  const account = await signUp(wallet.url);
  token = (await createToken(wallet.url, account)).secret;
});
afterAll(async () => {
  await stack?.stop();
});

// Metrics are served on their own listener (WALLET_METRICS_ADDR), never on the public port.
const scrape = async () => (await fetch(`${wallet.metricsUrl}/metrics`)).text();

/** The sum of a series' samples whose labels include `labels` (label order does not matter). */
function value(text: string, name: string, labels: Record<string, string | RegExp> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    const matches = Object.entries(labels).every(([k, v]) =>
      typeof v === "string" ? have[k] === v : v.test(have[k] ?? ""),
    );
    if (matches) sum += Number(m[3]);
  }
  return sum;
}

describe("metrics", () => {
  it("count REST, Connect and gRPC calls, under standard names with service=wallet and lower-case codes", async () => {
    const auth = { authorization: `Bearer ${token}` };
    expect((await rest(wallet.url, "GET", "/api/keys", undefined, { token })).status).toBe(200);
    await createKey(wallet.url, { token }, { provider: "openai", key: "sk-metrics-0123456789abcdef" });
    expect((await rest(wallet.url, "GET", "/api/keys/provider/openai", undefined, { token })).status).toBe(200);
    const connect = createClient(WalletService, createConnectTransport({ baseUrl: wallet.url, httpVersion: "1.1" }));
    await connect.listKeys({}, { headers: auth });
    await expect(connect.getKey({ id: "0".repeat(24) }, { headers: auth })).rejects.toThrow();
    const grpc = createClient(WalletService, createGrpcTransport({ baseUrl: `http://${wallet.grpcAddress}` }));
    await grpc.listTokens({}, { headers: auth });
    await expect(grpc.listKeys({})).rejects.toThrow(); // no credentials

    const text = await scrape();
    // prom-client's defaults under their standard names, not renamed.
    expect(text).toMatch(/^process_cpu_seconds_total\{service="wallet"\} /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes\{service="wallet"\} /m);
    expect(text).not.toContain("wallet_process_");
    expect(text).not.toContain("wallet_nodejs_");
    // Every sample carries service="wallet".
    const samples = text.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(samples.filter((l) => !l.includes('service="wallet"'))).toEqual([]);
    // REST in the HTTP series; Connect (HTTP/1.1) and gRPC (HTTP/2) in the RPC series, with codes.
    expect(text).toMatch(/wallet_http_request_duration_seconds_count\{[^}]*route="\/api\/keys"[^}]*status="200"/);
    const rpc = (method: string, code: string) => value(text, "wallet_rpc_duration_seconds_count", { method, code });
    expect(rpc("ListKeys", "ok")).toBe(1);
    expect(rpc("GetKey", "not_found")).toBe(1);
    expect(rpc("ListTokens", "ok")).toBe(1);
    expect(rpc("ListKeys", "unauthenticated")).toBe(1);
    // Status codes are lower-case snake everywhere, the crypto client's included.
    for (const m of text.matchAll(/code="([^"]*)"/g)) expect(m[1]).toMatch(/^[a-z_]+$/);
    expect(value(text, "wallet_crypto_call_duration_seconds_count", { code: "ok" })).toBeGreaterThan(0);
  });

  it("pass promtool check metrics", async (ctx) => {
    if (!promtool.path) {
      console.warn(`[skip] promtool check metrics: ${promtool.reason} (Debian package prometheus)`);
      return ctx.skip();
    }
    const text = await scrape();
    const child = execFile(promtool.path, ["check", "metrics"]);
    const output = new Promise<{ code: number | null; out: string }>((resolve) => {
      let out = "";
      child.stdout?.on("data", (d) => (out += d));
      child.stderr?.on("data", (d) => (out += d));
      child.on("close", (code) => resolve({ code, out }));
    });
    child.stdin?.end(text);
    const { code, out } = await output;
    expect(out).toBe("");
    expect(code).toBe(0);
  });
});

describe("readiness", () => {
  it("uses the crypto service's grpc.health.v1, so probes add no non-ok crypto call", async () => {
    const before = await scrape();
    const failing = (text: string) => value(text, "wallet_crypto_call_duration_seconds_count", { code: /^(?!ok$)/ });
    // Readiness is cached for a second: wait past it between probes so each one asks crypto.
    for (let i = 0; i < 3; i++) {
      expect((await rest(wallet.url, "GET", "/readyz")).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1100));
    }
    const after = await scrape();
    expect(failing(after)).toBe(failing(before));
    const checks = (text: string) =>
      value(text, "wallet_crypto_call_duration_seconds_count", { method: "Health/Check", code: "ok" });
    expect(checks(after) - checks(before)).toBeGreaterThanOrEqual(3);
    expect(after).not.toContain("GetKeyInfo");
  });
});

/** A client generated from the image's grpc.health.v1 (the wallet has no other health client). */
function healthClient() {
  const Health = descriptorRegistry().getService("grpc.health.v1.Health")!;
  const client = createClient(Health, createGrpcTransport({ baseUrl: `http://${wallet.grpcAddress}` })) as unknown as {
    check(req: { service: string }): Promise<{ status: number }>;
  };
  return client;
}

describe("the gRPC listener", () => {
  it("answers reflection (v1 and v1alpha) and health to a generated client", async () => {
    const transport = createGrpcTransport({ baseUrl: `http://${wallet.grpcAddress}` });
    for (const service of [ServerReflection, ServerReflectionV1Alpha]) {
      const client = createClient(service as typeof ServerReflection, transport);
      const requests = async function* () {
        yield create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } });
        yield create(ServerReflectionRequestSchema, {
          messageRequest: { case: "fileContainingSymbol", value: "cvwallet.wallet.v1.WalletService.ListKeys" },
        });
        yield create(ServerReflectionRequestSchema, {
          messageRequest: { case: "fileContainingSymbol", value: "cvwallet.crypto.v1.CryptoService" },
        });
      };
      const answers = [];
      for await (const a of client.serverReflectionInfo(requests())) answers.push(a.messageResponse);
      expect(answers[0]?.case).toBe("listServicesResponse");
      const names = answers[0]?.case === "listServicesResponse" ? answers[0].value.service.map((s) => s.name) : [];
      expect(names).toEqual(expect.arrayContaining(["cvwallet.wallet.v1.WalletService", "grpc.health.v1.Health"]));
      expect(names).not.toContain("cvwallet.crypto.v1.CryptoService");
      const files = answers[1]?.case === "fileDescriptorResponse" ? answers[1].value.fileDescriptorProto : [];
      const decoded = files.map((b) => fromBinary(FileDescriptorProtoSchema, b));
      expect(decoded[0]?.name).toBe("cvwallet/wallet/v1/wallet.proto");
      expect(decoded[0]?.service[0]?.method.map((m) => m.name)).toContain("ListKeys");
      // Its imports ride along, so a client can link the file.
      expect(decoded.map((f) => f.name)).toEqual(expect.arrayContaining(decoded[0]!.dependency));
      // The crypto service's contract is in the image but is not the wallet's to show.
      expect(answers[2]?.case).toBe("errorResponse");
    }
    expect((await healthClient().check({ service: "cvwallet.wallet.v1.WalletService" })).status).toBe(1);
    await expect(healthClient().check({ service: "nope.Service" })).rejects.toThrow(/unknown service/);
  });

  describe("with grpcurl", () => {
    const grpcurlRun = async (...args: string[]) => (await run(grpcurl.path!, ["-plaintext", ...args])).stdout;

    it("lists, describes, checks health and calls a method without --schema", async (ctx) => {
      if (!grpcurl.path) {
        console.warn(`[skip] grpcurl against the wallet: ${grpcurl.reason}`);
        return ctx.skip();
      }
      const addr = wallet.grpcAddress!;
      const list = await grpcurlRun(addr, "list");
      expect(list.split("\n")).toEqual(
        expect.arrayContaining(["cvwallet.wallet.v1.WalletService", "grpc.health.v1.Health"]),
      );
      expect(await grpcurlRun(addr, "list", "cvwallet.wallet.v1.WalletService")).toContain(
        "cvwallet.wallet.v1.WalletService.GetProviderKey",
      );
      const described = await grpcurlRun(addr, "describe", "cvwallet.wallet.v1.WalletService.GetProviderKey");
      expect(described).toContain("rpc GetProviderKey ( .cvwallet.wallet.v1.GetProviderKeyRequest )");
      expect(await grpcurlRun(addr, "describe", "cvwallet.wallet.v1.GetProviderKeyRequest")).toContain(
        "message GetProviderKeyRequest",
      );
      expect(JSON.parse(await grpcurlRun(addr, "grpc.health.v1.Health/Check"))).toEqual({ status: "SERVING" });
      const listed = JSON.parse(
        await grpcurlRun("-H", `authorization: Bearer ${token}`, addr, "cvwallet.wallet.v1.WalletService/ListTokens"),
      );
      expect(listed.tokens).toHaveLength(1);
    });
  });
});

// Last: it stops and restarts the crypto service under the wallet.
describe("readiness during a crypto outage", () => {
  it("fails when the crypto service is down, and the gRPC health says NOT_SERVING", async () => {
    const health = healthClient();
    expect((await health.check({ service: "" })).status).toBe(1);
    await stack.stopCrypto();
    try {
      await new Promise((r) => setTimeout(r, 1100));
      const r = await rest(wallet.url, "GET", "/readyz");
      expect([r.status, r.body.error.code]).toEqual([503, "unavailable"]);
      expect((await health.check({ service: "cvwallet.wallet.v1.WalletService" })).status).toBe(2);
    } finally {
      await stack.startCrypto();
    }
  });
});
