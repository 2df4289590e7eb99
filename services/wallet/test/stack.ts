// Test harness: the real crypto service and the real wallet on loopback with ephemeral
// ports and a temp data dir, logs captured so suites can search them for secrets, plus a
// small fetch-based REST client and a Connect client.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { type RunningCryptoServer, startCryptoServer } from "@cv-wallet/crypto";
import { WalletService } from "@cv-wallet/proto/wallet/v1";
import { type RunningWallet, type StartWalletOptions, startWallet } from "../src/start.ts";

export interface Stack {
  wallet: RunningWallet;
  url: string;
  dir: string;
  /** The bearer token the crypto service expects. */
  cryptoToken: string;
  crypto(): RunningCryptoServer | undefined;
  stopCrypto(): Promise<void>;
  startCrypto(): Promise<void>;
  /** Every log line both services wrote. */
  logs(): string;
  /** Another wallet on the same store and crypto service (different settings). */
  startAnotherWallet(options: Partial<StartWalletOptions>): Promise<RunningWallet>;
  stop(): Promise<void>;
}

export async function startStack(options: Partial<StartWalletOptions> = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), "wallet-e2e-"));
  const token = randomBytes(24).toString("base64url");
  const cryptoLogs = captureLogs("crypto");
  const walletLogs = captureLogs("wallet");
  let crypto: RunningCryptoServer | undefined;
  let cryptoAddress = "127.0.0.1:0";
  const startCrypto = async () => {
    crypto = await startCryptoServer({
      address: cryptoAddress,
      dataDir: join(dir, "crypto"),
      serviceToken: token,
      logger: cryptoLogs.logger,
    });
    await crypto.whenReady();
    cryptoAddress = crypto.address;
  };
  await startCrypto();
  const walletOptions = (over: Partial<StartWalletOptions>): StartWalletOptions => ({
    httpAddr: "127.0.0.1:0",
    metricsAddr: "127.0.0.1:0",
    dataDir: join(dir, "wallet"),
    crypto: { address: cryptoAddress, token, timeoutMs: 2000 },
    logger: walletLogs.logger,
    retrievalRateLimitPerMinute: 100_000,
    // Every suite signs up from 127.0.0.1; the sign-up limit has its own test.
    signUpRateLimitPerHour: 100_000,
    webDir: join(dir, "no-web-ui"),
    ...options,
    ...over,
  });
  const wallet = await startWallet(walletOptions({}));
  const others: RunningWallet[] = [];
  return {
    wallet,
    url: wallet.url,
    dir,
    cryptoToken: token,
    crypto: () => crypto,
    stopCrypto: async () => {
      await crypto?.stop();
      crypto = undefined;
    },
    startCrypto,
    logs: () => `${walletLogs.text()}\n${cryptoLogs.text()}`,
    startAnotherWallet: async (over) => {
      const w = await startWallet(walletOptions(over));
      others.push(w);
      return w;
    },
    stop: async () => {
      for (const w of others) await w.stop();
      await wallet.stop();
      await crypto?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Every secret the helpers below sent or received (keys, passwords, token secrets, session
 * cookies). Suites assert at the end that none of them reached a log line.
 */
export const secretsSeen = new Set<string>();

function noteSecrets(value: unknown): void {
  if (typeof value !== "object" || value === null) return;
  for (const [field, v] of Object.entries(value)) {
    if (typeof v === "string" && ["key", "password", "secret"].includes(field) && v.length >= 8) secretsSeen.add(v);
    // An invitation code (32 base64url characters; error codes are short words).
    else if (typeof v === "string" && field === "code" && /^[\w-]{32}$/.test(v)) secretsSeen.add(v);
    else if (typeof v === "object") noteSecrets(v);
  }
}

/** Fails when a log line of the stack holds any secret the helpers saw. */
export function expectNoSecretsInLogs(stack: Stack): void {
  const logs = stack.logs();
  // A check over nothing proves nothing.
  if (secretsSeen.size === 0 || !logs.includes('"level"')) throw new Error("no secrets or no log lines to check");
  const leaked = [...secretsSeen].filter((s) => logs.includes(s));
  if (leaked.length > 0) throw new Error(`${leaked.length} secret(s) found in the logs`);
}

export interface Reply {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test replies are inspected field by field
  body: any;
  text: string;
}

export interface Auth {
  token?: string;
  cookie?: string;
  origin?: string;
}

/** A REST call. Cookie-authenticated writes send the wallet's own Origin unless told otherwise. */
export async function rest(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  auth: Auth = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (auth.token !== undefined) headers.authorization = `Bearer ${auth.token}`;
  if (auth.cookie) headers.cookie = auth.cookie;
  const origin = auth.origin ?? (auth.cookie && method !== "GET" ? base : undefined);
  if (origin) headers.origin = origin;
  let payload: string | undefined;
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  if (auth.token) secretsSeen.add(auth.token);
  if (auth.cookie) secretsSeen.add(auth.cookie.split("=")[1] ?? auth.cookie);
  if (typeof body === "object") noteSecrets(body);
  const res = await fetch(`${base}${path}`, { method, headers, body: payload });
  const cookie = res.headers.get("set-cookie")?.split(";")[0]?.split("=")[1];
  if (cookie) secretsSeen.add(cookie);
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  noteSecrets(parsed);
  return { status: res.status, headers: res.headers, body: parsed, text };
}

let counter = 0;
export const PASSWORD = "correct horse battery staple";

export interface Account {
  email: string;
  cookie: string;
  userId: string;
}

export async function signUp(base: string): Promise<Account> {
  const email = `user${++counter}-${randomBytes(3).toString("hex")}@example.com`;
  const r = await rest(base, "POST", "/api/auth/signup", { email, password: PASSWORD });
  if (r.status !== 201) throw new Error(`signup failed: ${r.text}`);
  const setCookie = r.headers.get("set-cookie") ?? "";
  return { email, cookie: setCookie.split(";")[0]!, userId: r.body.user.id };
}

export async function createToken(
  base: string,
  account: Account,
  scopes: string[] = ["keys:read", "keys:write", "tokens:write"],
  providers: string[] = [],
): Promise<{ id: string; secret: string }> {
  const r = await rest(base, "POST", "/api/tokens", { name: `t${++counter}`, scopes, providers }, account);
  if (r.status !== 201) throw new Error(`token failed: ${r.text}`);
  return { id: r.body.token.id, secret: r.body.secret };
}

export async function createKey(
  base: string,
  auth: Auth,
  fields: Record<string, unknown> = {},
): Promise<{ id: string; key: string; body: Reply["body"] }> {
  const key = (fields.key as string) ?? `sk-proj-${randomBytes(16).toString("hex")}`;
  const r = await rest(base, "POST", "/api/keys", { provider: "openai", name: `k${++counter}`, key, ...fields }, auth);
  if (r.status !== 201) throw new Error(`key failed: ${r.status} ${r.text}`);
  return { id: r.body.key.id, key, body: r.body };
}

/** A Connect client (Connect protocol, JSON, HTTP/1.1) sending the given credentials. */
export function connectClient(base: string, auth: Auth = {}, useBinary = false) {
  const credentials: Interceptor = (next) => async (req) => {
    if (auth.token) secretsSeen.add(auth.token);
    if (!req.stream) noteSecrets(req.message);
    if (auth.token !== undefined) req.header.set("authorization", `Bearer ${auth.token}`);
    if (auth.cookie) req.header.set("cookie", auth.cookie);
    const origin = auth.origin ?? (auth.cookie ? base : undefined);
    if (origin) req.header.set("origin", origin);
    const res = await next(req);
    if (!res.stream) noteSecrets(res.message);
    return res;
  };
  return createClient(
    WalletService,
    createConnectTransport({
      baseUrl: base,
      httpVersion: "1.1",
      useBinaryFormat: useBinary,
      interceptors: [credentials],
    }),
  );
}

/** A loopback server speaking OpenAI's key check (GET /v1/models, Bearer) for validation tests. */
export async function fakeOpenAi(validKeys: Set<string>): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    res.setHeader("content-type", "application/json");
    if (req.url === "/v1/models" && key && validKeys.has(key)) {
      res.end(JSON.stringify({ object: "list", data: [{ id: "gpt-test" }] }));
      return;
    }
    res.statusCode = 401;
    res.end(JSON.stringify({ error: { code: "invalid_api_key", message: "Incorrect API key provided" } }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
