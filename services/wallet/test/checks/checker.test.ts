// Each provider's check against a local server that follows that provider's documented contract,
// reached through the base URL override (custom: through the key's own base URL).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CapturedLogs, captureLogs } from "@cv-wallet/common/testing/logs";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createKeyChecker, type KeyChecker } from "../../src/checks/checker.ts";
import {
  BODY_MARKER,
  CONTRACTS,
  type Contract,
  type FakeProvider,
  type FakeServer,
  type RecordedRequest,
  send,
  startFakeProvider,
  startServer,
} from "./fake-provider.ts";

const TIMEOUT_MS = 300;

/** The key is in the documented header, in the documented format, and nowhere else. */
function expectKeyOnlyInAuthHeader(request: RecordedRequest, contract: Contract, key: string) {
  if (contract.keyHeader === "authorization") expect(request.headers.authorization).toBe(`Bearer ${key}`);
  else expect(request.headers[contract.keyHeader]).toBe(key);
  for (const [name, value] of Object.entries(request.headers)) {
    if (name === contract.keyHeader) continue;
    expect(String(value), `header ${name}`).not.toContain(key);
  }
  expect(request.url).not.toContain(key);
  expect(request.url).not.toContain("?");
  expect(request.body).not.toContain(key);
}

function expectedRetryAfter(contract: Contract): number {
  const header = contract.replies.rate_limited.headers?.["retry-after"];
  return header === undefined ? 42 : Number(header); // google: RetryInfo.retryDelay "42s"
}

describe.each(CONTRACTS)("$id key check against a local server following its contract", (contract) => {
  let provider: FakeProvider;
  let elsewhere: FakeServer;
  let logs: CapturedLogs;
  let checker: KeyChecker;
  const usedKeys: string[] = [];

  const check = (key: string) =>
    checker.check(contract.id, key, contract.id === "custom" ? `${provider.url}/v1` : undefined);

  beforeEach(async () => {
    provider = await startFakeProvider(contract);
    usedKeys.push(provider.validKey);
    elsewhere = await startServer((_req, res) => send(res, { status: 200, body: { object: "list", data: [] } }));
    // localhost, not 127.0.0.1: another host as far as the checker can tell.
    provider.redirectTo = `http://localhost:${elsewhere.port}`;
    logs = captureLogs("wallet");
    checker = createKeyChecker({
      baseUrlOverrides: contract.id === "custom" ? {} : { [contract.id]: provider.url },
      // The custom key's base URL is a loopback http server here.
      allowPrivateBaseUrls: contract.id === "custom",
      timeoutMs: TIMEOUT_MS,
      logger: logs.logger,
    });
  });

  afterEach(async () => {
    const text = logs.text();
    expect(text).toContain("provider key check");
    for (const key of usedKeys) expect(text).not.toContain(key);
    expect(text).not.toContain(BODY_MARKER);
    usedKeys.length = 0;
    await provider.close();
    await elsewhere.close();
  });

  it("valid: the documented request, with the key only in its header", async () => {
    const result = await check(provider.validKey);
    expect(result.status).toBe("valid");
    expect(result.checkedAt).toBeInstanceOf(Date);
    expect(provider.requests).toHaveLength(1);
    const [request] = provider.requests;
    expect(request!.method).toBe(contract.method);
    expect(request!.url).toBe(contract.path);
    for (const [name, value] of Object.entries(contract.requiredHeaders ?? {})) {
      expect(request!.headers[name]).toBe(value);
    }
    expectKeyOnlyInAuthHeader(request!, contract, provider.validKey);
    if (contract.id === "openrouter") {
      expect(result.detail).toBe("credits left: 4.90");
      expect(result.credits).toEqual({
        label: "sk-or-v1-0e6...1c96",
        limit: 10,
        limitRemaining: 4.9,
        usage: 5.1,
        isFreeTier: false,
      });
    } else {
      expect(result.detail).toBe(`HTTP 200 from ${provider.host}`);
      expect(result.credits).toBeUndefined();
    }
  });

  it("invalid: a key the provider does not know", async () => {
    const revoked = contract.newKey();
    usedKeys.push(revoked);
    const result = await check(revoked);
    expect(result.status).toBe("invalid");
    expect(result.detail).toMatch(new RegExp(`^HTTP 40[01] from ${provider.host}`));
    expect(result.detail).not.toContain(revoked);
    expectKeyOnlyInAuthHeader(provider.requests[0]!, contract, revoked);
  });

  it("rate_limited: 429 with its retry-after", async () => {
    provider.scenario = "rate_limited";
    const result = await check(provider.validKey);
    expect(result.status).toBe("rate_limited");
    expect(result.retryAfterSeconds).toBe(expectedRetryAfter(contract));
    expect(result.detail).toBe(`HTTP 429 from ${provider.host}; retry after ${expectedRetryAfter(contract)} s`);
  });

  it("quota_exceeded: 402 or the provider's insufficient-quota error", async () => {
    provider.scenario = "quota";
    const result = await check(provider.validKey);
    expect(result.status).toBe("quota_exceeded");
    expect(result.detail).toContain(`from ${provider.host}`);
    expect(result.retryAfterSeconds).toBeUndefined();
  });

  it("unreachable, not invalid: a 5xx", async () => {
    provider.scenario = "error";
    const result = await check(provider.validKey);
    expect(result.status).toBe("unreachable");
    expect(result.detail).toMatch(new RegExp(`^HTTP 5\\d\\d from ${provider.host}$`));
  });

  it("unreachable, not invalid: no answer within the timeout", async () => {
    provider.scenario = "hang";
    const result = await check(provider.validKey);
    expect(result.status).toBe("unreachable");
    expect(result.detail).toBe(`no answer from ${provider.host} within ${TIMEOUT_MS} ms`);
    expect(provider.requests).toHaveLength(1);
  });

  it("a redirect to another host is not followed and the key never goes there", async () => {
    provider.scenario = "redirect";
    const result = await check(provider.validKey);
    expect(result.status).toBe("unreachable");
    expect(result.detail).toBe(`HTTP 307 from ${provider.host}: redirected to another host; not followed`);
    expect(provider.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
  });
});

describe("key checker edge cases", () => {
  let logs: CapturedLogs;
  const servers: FakeServer[] = [];
  const serve = async (handle: Parameters<typeof startServer>[0]) => {
    const s = await startServer(handle);
    servers.push(s);
    return s;
  };
  const checkerFor = (overrides: Record<string, string>, extra: { allowPrivateBaseUrls?: boolean } = {}) =>
    createKeyChecker({
      baseUrlOverrides: overrides,
      allowPrivateBaseUrls: extra.allowPrivateBaseUrls ?? false,
      timeoutMs: TIMEOUT_MS,
      logger: logs.logger,
    });
  const KEY = "sk-proj-EDGEedgeEDGEedge0123456789abcdefXYZ";

  beforeEach(() => {
    logs = captureLogs("wallet");
  });
  afterEach(async () => {
    expect(logs.text()).not.toContain(KEY);
    expect(logs.text()).not.toContain(BODY_MARKER);
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it("cohere answering 200 { valid: false } marks the key invalid", async () => {
    const cohere = await serve((_req, res) => send(res, { status: 200, body: { valid: false } }));
    const result = await checkerFor({ cohere: cohere.url }).check("cohere", KEY);
    expect(result).toMatchObject({ status: "invalid", detail: `${cohere.host} reports the key is not valid` });
  });

  it("openrouter with no credits left is quota_exceeded; without a limit it is valid", async () => {
    let body: unknown = { data: { label: "ci", limit: 5, limit_remaining: 0, usage: 5, is_free_tier: true } };
    const openrouter = await serve((_req, res) => send(res, { status: 200, body }));
    const checker = checkerFor({ openrouter: openrouter.url });
    const spent = await checker.check("openrouter", KEY);
    expect(spent).toMatchObject({ status: "quota_exceeded", detail: "credits left: 0.00" });
    expect(spent.credits).toEqual({ label: "ci", limit: 5, limitRemaining: 0, usage: 5, isFreeTier: true });
    body = { data: { label: "ci", limit: null, limit_remaining: null, usage: 1.234, is_free_tier: false } };
    const unlimited = await checker.check("openrouter", KEY);
    expect(unlimited).toMatchObject({ status: "valid", detail: "no credit limit; used 1.23" });
    expect(unlimited.credits).toEqual({ label: "ci", usage: 1.234, isFreeTier: false });
  });

  it("a provider that echoes the key (body, headers, label) leaks it nowhere", async () => {
    const openrouter = await serve((req, res) =>
      send(res, {
        status: 200,
        headers: { "x-echo": String(req.headers.authorization) },
        body: { data: { label: `key ${KEY}`, limit: null, usage: 0, is_free_tier: false }, echo: req.headers },
      }),
    );
    const result = await checkerFor({ openrouter: openrouter.url }).check("openrouter", KEY);
    expect(result.status).toBe("valid");
    expect(JSON.stringify(result)).not.toContain(KEY);
    expect(JSON.stringify(result)).not.toContain(KEY.slice(8, 24));
  });

  it("an operator base URL with a path prefix (a proxy) is kept", async () => {
    const proxy = await serve((_req, res) => send(res, { status: 200, body: { object: "list", data: [] } }));
    const result = await checkerFor({ openai: `${proxy.url}/proxy/openai/` }).check("openai", KEY);
    expect(result.status).toBe("valid");
    expect(proxy.requests[0]!.url).toBe("/proxy/openai/v1/models");
  });

  it("a base URL passed for a built-in provider is ignored: the key goes only to the provider's URL", async () => {
    const openai = await serve((_req, res) => send(res, { status: 200, body: { object: "list", data: [] } }));
    const other = await serve((_req, res) => send(res, { status: 200, body: {} }));
    const result = await checkerFor({ openai: openai.url }).check("openai", KEY, `${other.url}/v1`);
    expect(result.status).toBe("valid");
    expect(openai.requests).toHaveLength(1);
    expect(other.requests).toHaveLength(0);
  });

  it("a 2xx that is not JSON (a wrong base URL serving a web page) is unverified, not valid", async () => {
    const page = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<html>${BODY_MARKER}</html>`);
    });
    const result = await checkerFor({ mistral: page.url }).check("mistral", KEY);
    expect(result.status).toBe("unverified");
  });

  it("a 404 (wrong path behind the base URL) is unverified, not invalid", async () => {
    const page = await serve((_req, res) => send(res, { status: 404, body: { message: BODY_MARKER } }));
    const result = await checkerFor({ groq: page.url }).check("groq", KEY);
    expect(result).toMatchObject({
      status: "unverified",
      detail: `HTTP 404 from ${page.host}; the check could not be completed`,
    });
  });

  it("a 5xx carrying an invalid-key code still never marks the key invalid", async () => {
    const broken = await serve((_req, res) =>
      send(res, { status: 500, body: { error: { code: "invalid_api_key", message: BODY_MARKER } } }),
    );
    const result = await checkerFor({ openai: broken.url }).check("openai", KEY);
    expect(result.status).toBe("unreachable");
  });

  it("a redirect to the same host is not followed either", async () => {
    const server = await serve((req, res) => {
      res.writeHead(301, { location: `/moved${req.url}` });
      res.end();
    });
    const result = await checkerFor({ openai: server.url }).check("openai", KEY);
    expect(result).toMatchObject({
      status: "unreachable",
      detail: `HTTP 301 from ${server.host}: redirected; not followed`,
    });
    expect(server.requests).toHaveLength(1);
  });

  it("connection refused is unreachable", async () => {
    const gone = await startServer(() => {});
    await gone.close();
    const result = await checkerFor({ anthropic: gone.url }).check("anthropic", KEY);
    expect(result).toMatchObject({ status: "unreachable", detail: `connection refused by ${gone.host}` });
  });

  it("a body that never ends is cut off by the timeout", async () => {
    const slow = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"data": [');
    });
    const result = await checkerFor({ together: slow.url }).check("together", KEY);
    expect(result).toMatchObject({
      status: "unreachable",
      detail: `no answer from ${slow.host} within ${TIMEOUT_MS} ms`,
    });
  });

  it("unknown provider, custom without a base URL, empty key, key with a line break: nothing is sent", async () => {
    const server = await serve((_req, res) => send(res, { status: 200, body: {} }));
    const checker = checkerFor({ openai: server.url });
    expect((await checker.check("acme", KEY)).status).toBe("unverified");
    expect(await checker.check("custom", KEY)).toMatchObject({
      status: "unverified",
      detail: "no base URL set for this custom key",
    });
    expect((await checker.check("openai", "")).status).toBe("invalid");
    const broken = await checker.check("openai", `${KEY}\r\nx-injected: 1`);
    expect(broken.status).toBe("invalid");
    expect(broken.detail).not.toContain(KEY);
    expect(server.requests).toHaveLength(0);
  });
});

describe("TLS is verified before the key is sent", () => {
  const KEY = "sk-proj-TLStlsTLStls0123456789abcdefXYZ";
  let dir: string | undefined;
  let server: https.Server | undefined;
  let port = 0;
  let requests = 0;
  let handshakes = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "cvw-tls-"));
    try {
      execFileSync(
        "openssl",
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
          .concat(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
          .concat(["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")]),
        { stdio: "ignore" },
      );
    } catch {
      console.warn("skipped: openssl is not available to make a self-signed certificate");
      return;
    }
    server = https.createServer(
      { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) },
      (_req, res) => {
        requests++;
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      },
    );
    server.on("secureConnection", () => handshakes++);
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("an untrusted certificate is unreachable and the request (with the key) is never sent", async (ctx) => {
    if (!server) ctx.skip();
    const logs = captureLogs("wallet");
    const custom = createKeyChecker({
      baseUrlOverrides: { openai: `https://127.0.0.1:${port}` },
      allowPrivateBaseUrls: true,
      timeoutMs: 2000,
      logger: logs.logger,
    });
    for (const result of [
      await custom.check("custom", KEY, `https://127.0.0.1:${port}/v1`),
      await custom.check("openai", KEY),
    ]) {
      expect(result).toMatchObject({
        status: "unreachable",
        detail: `self-signed TLS certificate from 127.0.0.1:${port}`,
      });
    }
    expect(requests).toBe(0);
    expect(handshakes).toBe(0);
    expect(logs.text()).not.toContain(KEY);
  });
});
