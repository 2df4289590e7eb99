// The real crypto service and the real wallet on loopback (ephemeral ports, a temp data
// dir, logs captured), a few REST helpers to set up accounts, tokens and keys, and a runner
// for the real `cvw` process. The wallet's start helper is used here only, so a change of its
// signature touches this file alone.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { type RunningCryptoServer, startCryptoServer } from "@cv-wallet/crypto";
import { type RunningWallet, startWallet } from "@cv-wallet/wallet";

export const CLI_ROOT = join(import.meta.dirname, "../..");
export const MAIN = join(CLI_ROOT, "src/main.ts");

export interface Services {
  url: string;
  dir: string;
  /** Every log line both services wrote. */
  logs(): string;
  /** Another wallet on the same store and crypto service, e.g. with a tight rate limit. */
  startAnotherWallet(options: { retrievalRateLimitPerMinute?: number }): Promise<string>;
  stop(): Promise<void>;
}

export async function startServices(): Promise<Services> {
  const dir = mkdtempSync(join(tmpdir(), "cvw-e2e-"));
  const serviceToken = randomBytes(24).toString("base64url");
  const cryptoLogs = captureLogs("crypto");
  const walletLogs = captureLogs("wallet");
  const crypto: RunningCryptoServer = await startCryptoServer({
    address: "127.0.0.1:0",
    dataDir: join(dir, "crypto"),
    serviceToken,
    logger: cryptoLogs.logger,
  });
  await crypto.whenReady();
  const walletOptions = (over: { retrievalRateLimitPerMinute?: number } = {}) => ({
    httpAddr: "127.0.0.1:0",
    dataDir: join(dir, "wallet"),
    crypto: { address: crypto.address, token: serviceToken, timeoutMs: 2000 },
    logger: walletLogs.logger,
    retrievalRateLimitPerMinute: 100_000,
    webDir: join(dir, "no-web-ui"),
    // Custom endpoints in these tests live on loopback, like a local model server.
    providers: { allowPrivateBaseUrls: true },
    ...over,
  });
  const wallet: RunningWallet = await startWallet(walletOptions());
  const others: RunningWallet[] = [];
  return {
    url: wallet.url,
    dir,
    logs: () => `${walletLogs.text()}\n${cryptoLogs.text()}`,
    startAnotherWallet: async (over) => {
      const w = await startWallet(walletOptions(over));
      others.push(w);
      return w.url;
    },
    stop: async () => {
      for (const w of others) await w.stop();
      await wallet.stop();
      await crypto.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- REST set-up (what a person does in the web UI) --------------------------------------

export interface Account {
  email: string;
  cookie: string;
}

async function rest(
  base: string,
  method: string,
  path: string,
  body: unknown,
  auth: { cookie?: string; token?: string },
  // biome-ignore lint/suspicious/noExplicitAny: set-up replies are read field by field
): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (auth.cookie) {
    headers.cookie = auth.cookie;
    headers.origin = base;
  }
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text, headers: res.headers };
}

export { rest };

export async function signUp(base: string): Promise<Account> {
  const email = `cvw-${randomBytes(4).toString("hex")}@example.com`;
  const r = await rest(base, "POST", "/api/auth/signup", { email, password: "correct horse battery staple" }, {});
  if (r.status !== 201) throw new Error(`signup failed: ${r.text}`);
  return { email, cookie: (r.headers.get("set-cookie") ?? "").split(";")[0]! };
}

export async function createToken(
  base: string,
  account: Account,
  scopes: string[] = ["keys:read"],
  providers: string[] = [],
): Promise<{ id: string; secret: string }> {
  const name = `t-${randomBytes(3).toString("hex")}`;
  const r = await rest(base, "POST", "/api/tokens", { name, scopes, providers }, account);
  if (r.status !== 201) throw new Error(`token failed: ${r.text}`);
  return { id: r.body.token.id, secret: r.body.secret };
}

export async function revokeToken(base: string, account: Account, id: string): Promise<void> {
  const r = await rest(base, "DELETE", `/api/tokens/${id}`, undefined, account);
  if (r.status !== 200) throw new Error(`revoke failed: ${r.text}`);
}

export async function createKey(
  base: string,
  account: Account,
  fields: { provider: string; name: string; key: string; baseUrl?: string; isDefault?: boolean },
): Promise<string> {
  const r = await rest(base, "POST", "/api/keys", fields, account);
  if (r.status !== 201) throw new Error(`key failed: ${r.status} ${r.text}`);
  return r.body.key.id;
}

/** A loopback port nothing listens on (taken, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

// ---- the cvw process ---------------------------------------------------------------------

export interface Home {
  /** A HOME with its own config dir (credentials land here), outside any git work tree. */
  home: string;
  configDir: string;
  env: NodeJS.ProcessEnv;
  remove(): void;
}

export function tempHome(url: string, extra: NodeJS.ProcessEnv = {}): Home {
  const home = mkdtempSync(join(tmpdir(), "cvw-home-"));
  const configDir = join(home, ".config", "cv-wallet");
  mkdirSync(join(home, ".config"), { recursive: true });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, ".config"),
    CVW_URL: url,
    // Keep git from finding a work tree above the temp dir, and the keychain out of it.
    GIT_CEILING_DIRECTORIES: tmpdir(),
    ...extra,
  };
  return { home, configDir, env, remove: () => rmSync(home, { recursive: true, force: true }) };
}

export interface CvwResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCvw {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  done: Promise<CvwResult>;
}

/** Starts the real `cvw` (this workspace's src/main.ts on the Node running the tests). */
export function startCvw(args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): RunningCvw {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: options.env,
    cwd: options.cwd ?? options.env.HOME,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => {
    stdout += d;
  });
  child.stderr!.on("data", (d) => {
    stderr += d;
  });
  const done = new Promise<CvwResult>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

export function cvw(args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): Promise<CvwResult> {
  return startCvw(args, options).done;
}

/** Resolves once `text` shows up in what `read` returns (polling; fails after the timeout). */
export async function waitFor(read: () => string, text: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!read().includes(text)) {
    if (Date.now() > until) throw new Error(`timed out waiting for "${text}"; got: ${read()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
