// What cvw and the library put on the wire, seen by a small recording HTTP server standing
// in for the wallet's protocol (RFC 8628's endpoints, Connect's unary JSON): the polling
// rules of the device grant, the who-is-asking headers, and retries with Retry-After.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import http, { type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { createWalletClient } from "../src/client.ts";
import { DeviceSignInError, pollForToken, requestDeviceCode } from "../src/device.ts";
import { cvw, tempHome } from "./support/services.ts";

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Answer = { status: number; body: unknown; headers?: Record<string, string> };

/** A server answering each request with the next scripted answer for its path. */
async function recorder(script: Record<string, Answer[]>) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      const path = (req.url ?? "").split("?")[0]!;
      seen.push({ method: req.method ?? "", path, headers: req.headers, body });
      const answers = script[path];
      const answer = answers && answers.length > 1 ? answers.shift()! : answers?.[0];
      if (!answer) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
      res.end(JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () => new Promise<void>((r) => server.close(() => r()));
  closers.push(close);
  return { url, seen, close };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const flow = { clientId: "cvw", headers: { "cvw-client": "cvw/test" } };

describe("device grant (RFC 8628)", () => {
  test("polls at the interval, adds 5 s on each slow_down, and returns the token", async () => {
    const wallet = await recorder({
      "/oauth/device/code": [
        {
          status: 200,
          body: {
            device_code: "dc-1",
            user_code: "WXYZ-2345",
            verification_uri: "http://w/device",
            verification_uri_complete: "http://w/device?code=WXYZ-2345",
            expires_in: 600,
            interval: 1,
          },
        },
      ],
      "/oauth/token": [
        { status: 400, body: { error: "authorization_pending" } },
        { status: 400, body: { error: "slow_down" } },
        { status: 400, body: { error: "authorization_pending" } },
        { status: 400, body: { error: "slow_down" } },
        { status: 200, body: { access_token: "cvw_from_device", token_type: "Bearer", expires_in: 3600 } },
      ],
    });
    const auth = await requestDeviceCode(wallet.url, { scope: "keys:read", providers: ["openai", "groq"] }, flow);
    expect(auth).toMatchObject({ userCode: "WXYZ-2345", interval: 1, expiresIn: 600 });
    const sleeps: number[] = [];
    const token = await pollForToken(wallet.url, auth, { ...flow, sleep: async (ms) => void sleeps.push(ms) });
    expect(token).toMatchObject({ accessToken: "cvw_from_device", tokenType: "Bearer", expiresIn: 3600 });
    expect(sleeps).toEqual([1000, 1000, 6000, 6000, 11000]);

    const [code, ...polls] = wallet.seen;
    expect(code!.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(new URLSearchParams(code!.body))).toEqual({
      client_id: "cvw",
      scope: "keys:read",
      providers: "openai groq",
    });
    expect(polls).toHaveLength(5);
    expect(Object.fromEntries(new URLSearchParams(polls[0]!.body))).toEqual({
      grant_type: "urn:ietf:params:oauth:grant-type:device_code",
      device_code: "dc-1",
      client_id: "cvw",
    });
    expect(polls[0]!.headers["cvw-client"]).toBe("cvw/test");
  });

  test.each([
    ["access_denied", "the sign-in was denied in the browser"],
    ["expired_token", "the sign-in code expired before it was approved; run cvw login again"],
    ["invalid_grant", "the wallet no longer accepts this sign-in code; run cvw login again"],
  ])("%s ends the sign-in with a clear message", async (error, message) => {
    const wallet = await recorder({ "/oauth/token": [{ status: 400, body: { error } }] });
    const auth = {
      deviceCode: "d",
      userCode: "U",
      verificationUri: "v",
      verificationUriComplete: undefined,
      expiresIn: 600,
      interval: 5,
    };
    const polled = pollForToken(wallet.url, auth, { ...flow, sleep: async () => {} });
    await expect(polled).rejects.toBeInstanceOf(DeviceSignInError);
    await expect(polled).rejects.toThrow(message);
  });
});

describe("cvw login", () => {
  const deviceCode = (interval = 1) => ({
    status: 200,
    body: {
      device_code: "dc-login",
      user_code: "BCDF-GHJK",
      verification_uri: "http://wallet.test/device",
      verification_uri_complete: "http://wallet.test/device?user_code=BCDF-GHJK",
      expires_in: 600,
      interval,
    },
  });
  const me = {
    status: 200,
    body: { user: { id: "u1", email: "me@example.com" }, authMethod: "token", scopes: ["keys:read"] },
  };

  test("prints the code, stores the approved token with mode 0600, and uses it", async () => {
    const wallet = await recorder({
      "/oauth/device/code": [deviceCode()],
      "/oauth/token": [
        { status: 400, body: { error: "authorization_pending" } },
        { status: 200, body: { access_token: "cvw_approved_token", token_type: "Bearer", expires_in: 86400 } },
      ],
      "/cvwallet.wallet.v1.WalletService/GetCurrentUser": [me],
    });
    const home = tempHome(wallet.url);
    try {
      const r = await cvw(["login", "--no-browser", "--name", "ci box"], home);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("one-time code: BCDF-GHJK");
      expect(r.stderr).toContain("http://wallet.test/device?user_code=BCDF-GHJK");
      expect(r.stdout).toContain(`Signed in to ${wallet.url} as me@example.com`);
      expect(r.stdout + r.stderr).not.toContain("cvw_approved_token");
      const form = Object.fromEntries(new URLSearchParams(wallet.seen[0]!.body));
      expect(form).toEqual({ client_id: "cvw", scope: "keys:read", name: "ci box" });

      const file = join(home.configDir, "credentials.json");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(statSync(home.configDir).mode & 0o777).toBe(0o700);
      expect(JSON.parse(readFileSync(file, "utf8")).wallets[wallet.url].token).toBe("cvw_approved_token");
      const whoami = wallet.seen.find((s) => s.path.endsWith("/GetCurrentUser"))!;
      expect(whoami.headers.authorization).toBe("Bearer cvw_approved_token");
    } finally {
      home.remove();
    }
  });

  test.each([
    ["access_denied", "the sign-in was denied in the browser"],
    ["expired_token", "the sign-in code expired"],
  ])("%s: exit 3, nothing stored", async (error, message) => {
    const wallet = await recorder({
      "/oauth/device/code": [deviceCode()],
      "/oauth/token": [{ status: 400, body: { error } }],
    });
    const home = tempHome(wallet.url);
    try {
      const r = await cvw(["login", "--no-browser"], home);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(message);
      expect(() => statSync(join(home.configDir, "credentials.json"))).toThrow();
    } finally {
      home.remove();
    }
  });
});

describe("who is asking", () => {
  test("cvw sends client, host and the work tree's origin without its credentials", async () => {
    const wallet = await recorder({
      "/cvwallet.wallet.v1.WalletService/ListKeys": [{ status: 200, body: { keys: [] } }],
    });
    const repo = mkdtempSync(join(tmpdir(), "cvw-repo-"));
    try {
      execFileSync("git", ["init", "-q", repo]);
      execFileSync("git", ["-C", repo, "remote", "add", "origin", "https://bot:s3cr3t-pat@GitHub.com/acme/app.git"]);
      const home = tempHome(wallet.url, { CVW_TOKEN: "cvw_testtoken" });
      const r = await cvw(["keys"], { env: home.env, cwd: repo });
      home.remove();
      expect(r.code).toBe(0);
      const headers = wallet.seen[0]!.headers;
      expect(headers["cvw-client"]).toMatch(/^cvw\/\d+\.\d+\.\d+$/);
      expect(headers["cvw-host"]).toBe(hostname());
      expect(headers["cvw-repository"]).toBe("github.com/acme/app");
      expect(headers.authorization).toBe("Bearer cvw_testtoken");
      expect(JSON.stringify(wallet.seen)).not.toContain("s3cr3t");
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });

  test("outside a work tree there is no repository header; the library names its client", async () => {
    const wallet = await recorder({
      "/cvwallet.wallet.v1.WalletService/ListKeys": [{ status: 200, body: { keys: [] } }],
    });
    const dir = mkdtempSync(join(tmpdir(), "cvw-norepo-"));
    try {
      const client = createWalletClient({
        url: wallet.url,
        token: "cvw_t",
        clientName: "cv-git",
        clientVersion: "3.0.0",
        cwd: dir,
      });
      await client.listKeys();
      expect(wallet.seen[0]!.headers["cvw-client"]).toBe("cv-git/3.0.0");
      expect(wallet.seen[0]!.headers).not.toHaveProperty("cvw-repository");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("retries", () => {
  test("resource_exhausted waits for Retry-After, unavailable backs off, then the call succeeds", async () => {
    const wallet = await recorder({
      "/cvwallet.wallet.v1.WalletService/GetProviderKey": [
        { status: 429, body: { code: "resource_exhausted", message: "slow down" }, headers: { "retry-after": "1" } },
        { status: 503, body: { code: "unavailable", message: "crypto service down" } },
        { status: 200, body: { key: "sk-after-retries" } },
      ],
    });
    const client = createWalletClient({ url: wallet.url, token: "cvw_t", repository: false });
    expect(await client.getProviderKey("openai")).toBe("sk-after-retries");
    expect(wallet.seen).toHaveLength(3);
  });

  test("a Retry-After beyond the limit fails at once with the wait; not_found is not retried", async () => {
    const wallet = await recorder({
      "/cvwallet.wallet.v1.WalletService/GetProviderKey": [
        { status: 429, body: { code: "resource_exhausted", message: "slow down" }, headers: { "retry-after": "120" } },
      ],
      "/cvwallet.wallet.v1.WalletService/ListKeys": [{ status: 404, body: { code: "not_found", message: "nope" } }],
    });
    const client = createWalletClient({ url: wallet.url, token: "cvw_t", repository: false });
    await expect(client.getProviderKey("openai")).rejects.toMatchObject({
      kind: "rate_limited",
      retryAfterSeconds: 120,
    });
    await expect(client.listKeys()).rejects.toMatchObject({ kind: "not_found" });
    expect(wallet.seen.map((s) => s.path.split("/").pop())).toEqual(["GetProviderKey", "ListKeys"]);
  });
});
