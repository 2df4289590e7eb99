// Device sign-in (RFC 8628) end to end against the real services: the OAuth endpoints with
// every error of §3.5, slow_down, expiry (on a clock the test moves, not by waiting), single
// use, narrowing, the approval routes and their Connect twins, the user-code throttle, a
// token revoking itself, client facts on retrievals, a generic OAuth client library driving
// the flow, and no code or token in the logs.
import { Code, ConnectError } from "@connectrpc/connect";
import * as oauth from "oauth4webapi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Account,
  connectClient,
  createKey,
  createToken,
  expectNoSecretsInLogs,
  type Reply,
  rest,
  type Stack,
  secretsSeen,
  signUp,
  startStack,
} from "./stack.ts";

const GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

let offsetMs = 0;
const clock = () => new Date(Date.now() + offsetMs);

/** A form-encoded POST, as OAuth clients send it. */
async function form(
  base: string,
  path: string,
  params: Record<string, string> | string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const body = typeof params === "string" ? params : new URLSearchParams(params).toString();
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body,
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

interface Started {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
}

async function startDevice(
  base: string,
  params: Record<string, string> = {},
  headers: Record<string, string> = { "cvw-client": "cvw/0.1.0", "cvw-host": "laptop" },
): Promise<Started> {
  const r = await form(base, "/oauth/device/code", { client_id: "cvw", ...params }, headers);
  if (r.status !== 200) throw new Error(`device code failed: ${r.status} ${r.text}`);
  const s = r.body as Started;
  secretsSeen.add(s.device_code);
  secretsSeen.add(s.user_code);
  secretsSeen.add(s.user_code.replace("-", ""));
  return s;
}

const poll = (base: string, deviceCode: string, clientId = "cvw") =>
  form(base, "/oauth/token", { grant_type: GRANT, device_code: deviceCode, client_id: clientId });

function noteToken(r: Reply): string {
  const t = r.body?.access_token as string;
  if (t) secretsSeen.add(t);
  return t;
}

describe("device sign-in (RFC 8628)", () => {
  let stack: Stack;
  let base: string;
  let alice: Account;

  beforeAll(async () => {
    stack = await startStack({ clock });
    base = stack.url;
    alice = await signUp(base);
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("hands out a device code, a short user code and where to enter it, never cached", async () => {
    const r = await form(base, "/oauth/device/code", { client_id: "cvw", scope: "keys:read" });
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const s = r.body as Started;
    secretsSeen.add(s.device_code);
    secretsSeen.add(s.user_code);
    expect(s.user_code).toMatch(USER_CODE);
    expect(s.device_code.length).toBeGreaterThanOrEqual(40);
    expect(s.verification_uri).toBe(`${base}/device`);
    expect(s.verification_uri_complete).toBe(`${base}/device?code=${s.user_code}`);
    expect(s.expires_in).toBe(600);
    expect(s.interval).toBe(5);
  });

  it("refuses bad device authorization requests in OAuth's error form", async () => {
    const cases: [Record<string, string> | string, string][] = [
      [{}, "invalid_request"],
      [{ client_id: "cvw\u0001" }, "invalid_request"],
      [{ client_id: "x".repeat(101) }, "invalid_request"],
      [{ client_id: "cvw", scope: "keys:read admin" }, "invalid_scope"],
      [{ client_id: "cvw", providers: "openai,nosuch" }, "invalid_scope"],
      ["client_id=cvw&client_id=other", "invalid_request"],
    ];
    for (const [params, error] of cases) {
      const r = await form(base, "/oauth/device/code", params);
      expect(r.status, JSON.stringify(params)).toBe(400);
      expect(r.body).toMatchObject({ error });
      expect(typeof r.body.error_description).toBe("string");
    }
    const json = await fetch(`${base}/oauth/device/code`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_id: "cvw" }),
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: "invalid_request" });
    const get = await fetch(`${base}/oauth/token`);
    expect(get.status).toBe(405);
  });

  it("answers every token-endpoint error of RFC 8628 §3.5 and RFC 6749 §5.2", async () => {
    const s = await startDevice(base);
    const expectError = (r: Reply, error: string, status = 400) => {
      expect(r.status, r.text).toBe(status);
      expect(r.headers.get("cache-control")).toBe("no-store");
      expect(r.body).toMatchObject({ error });
    };
    expectError(await form(base, "/oauth/token", { device_code: s.device_code, client_id: "cvw" }), "invalid_request");
    expectError(
      await form(base, "/oauth/token", { grant_type: "client_credentials", client_id: "cvw" }),
      "unsupported_grant_type",
    );
    expectError(await form(base, "/oauth/token", { grant_type: GRANT, client_id: "cvw" }), "invalid_request");
    expectError(await form(base, "/oauth/token", { grant_type: GRANT, device_code: s.device_code }), "invalid_request");
    expectError(await poll(base, "cvwd_not-a-code-we-issued"), "invalid_grant");
    expectError(await poll(base, `cvwd_${"A".repeat(43)}`), "invalid_grant");
    expectError(
      await form(
        base,
        "/oauth/token",
        { grant_type: GRANT, device_code: s.device_code, client_id: "cvw" },
        { authorization: "Basic Y3Z3OnNlY3JldA==" },
      ),
      "invalid_client",
      401,
    );
    offsetMs += 60_000;
    expectError(await poll(base, s.device_code), "authorization_pending");
    offsetMs += 60_000;
    expectError(await poll(base, s.device_code, "another-client"), "invalid_grant");
  });

  it("says slow_down when polled faster than the interval, and raises the interval by 5 s", async () => {
    const s = await startDevice(base);
    const first = await poll(base, s.device_code);
    expect(first.body.error).toBe("authorization_pending");
    offsetMs += 1_000;
    const fast = await poll(base, s.device_code);
    expect(fast.status).toBe(400);
    expect(fast.body.error).toBe("slow_down");
    // The interval is now 10 s: 6 s later is still too fast (and raises it to 15 s) …
    offsetMs += 6_000;
    expect((await poll(base, s.device_code)).body.error).toBe("slow_down");
    // … 16 s later is fine.
    offsetMs += 16_000;
    expect((await poll(base, s.device_code)).body.error).toBe("authorization_pending");
  });

  it("expires: expired_token for the tool, a clear 404 for the person", async () => {
    const s = await startDevice(base);
    offsetMs += 601_000;
    const r = await poll(base, s.device_code);
    expect(r.status).toBe(400);
    expect(r.body.error).toBe("expired_token");
    const seen = await rest(base, "GET", `/api/device/requests/${s.user_code}`, undefined, alice);
    expect(seen.status).toBe(404);
    expect(seen.body.error.message).toMatch(/expired/);
    const approve = await rest(base, "POST", `/api/device/requests/${s.user_code}/approve`, {}, alice);
    expect(approve.status).toBe(404);
  });

  it("shows who asks, approves narrowed, hands the token out once, and audits it all", async () => {
    const s = await startDevice(
      base,
      { scope: "keys:read keys:write", providers: "openai anthropic" },
      { "cvw-client": "cv-git/2.3.0", "cvw-host": "laptop", "cvw-repository": "github.com/acme/app" },
    );
    const shown = await rest(base, "GET", `/api/device/requests/${s.user_code.toLowerCase()}`, undefined, alice);
    expect(shown.status).toBe(200);
    expect(shown.body.request).toMatchObject({
      userCode: s.user_code,
      clientName: "cvw",
      clientHost: "laptop",
      clientRepository: "github.com/acme/app",
      address: expect.stringMatching(/127\.0\.0\.1/),
      scopes: ["keys:read", "keys:write"],
      providers: ["openai", "anthropic"],
      status: "pending",
    });
    expect(Date.parse(shown.body.request.createdAt)).toBeGreaterThan(0);

    // Never broader than asked.
    const url = `/api/device/requests/${s.user_code}/approve`;
    const broader = await rest(base, "POST", url, { scopes: ["tokens:write"] }, alice);
    expect(broader.status).toBe(400);
    expect(broader.body.error.message).toMatch(/scopes/);
    const otherProvider = await rest(base, "POST", url, { providers: ["groq"] }, alice);
    expect(otherProvider.status).toBe(400);
    expect((await rest(base, "POST", url, { expiresInDays: 400 }, alice)).status).toBe(400);

    const approved = await rest(
      base,
      "POST",
      url,
      { scopes: ["keys:read"], providers: ["openai"], expiresInDays: 7 },
      alice,
    );
    expect(approved.status, approved.text).toBe(200);
    expect(approved.body.request.status).toBe("approved");
    expect((await rest(base, "POST", url, {}, alice)).status).toBe(412);

    const got = await poll(base, s.device_code);
    expect(got.status, got.text).toBe(200);
    expect(got.headers.get("cache-control")).toBe("no-store");
    const token = noteToken(got);
    expect(token).toMatch(/^cvw_/);
    expect(got.body).toMatchObject({ token_type: "Bearer", scope: "keys:read" });
    expect(got.body.expires_in).toBeGreaterThan(7 * 86_400 - 60);
    expect(got.body.expires_in).toBeLessThanOrEqual(7 * 86_400);

    // Single use.
    offsetMs += 10_000;
    const again = await poll(base, s.device_code);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe("invalid_grant");

    // The token is a normal one, with what was approved.
    const me = await rest(base, "GET", "/api/auth/me", undefined, { token });
    expect(me.body).toMatchObject({ authMethod: "token", scopes: ["keys:read"] });
    const tokens = await rest(base, "GET", "/api/tokens", undefined, alice);
    const listed = tokens.body.tokens.find((t: { name: string }) => t.name === "cvw on laptop");
    expect(listed).toMatchObject({ scopes: ["keys:read"], providers: ["openai"] });
    await createKey(base, alice, { provider: "anthropic", key: "sk-ant-device-test-0123456789" });
    expect((await rest(base, "GET", "/api/keys/provider/anthropic", undefined, { token })).status).toBe(403);

    const audit = await rest(base, "GET", "/api/audit?page_size=50", undefined, alice);
    const byAction = (a: string) => audit.body.events.find((e: { action: string }) => e.action === a);
    expect(byAction("device.requested")?.details).toMatchObject({
      client: "cvw",
      host: "laptop",
      repository: "github.com/acme/app",
    });
    expect(byAction("device.approved")?.details).toMatchObject({
      client: "cvw",
      host: "laptop",
      scopes: "keys:read",
      providers: "openai",
      expiresInDays: "7",
    });
    expect(byAction("token.created")?.details).toMatchObject({ client: "cvw", host: "laptop", via: "device" });
    expect(byAction("token.created")?.target.name).toBe("cvw on laptop");
    expect(audit.text).not.toContain(s.user_code);
    expect(audit.text).not.toContain(s.device_code);
  });

  it("a denied request answers access_denied; it cannot be approved afterwards", async () => {
    const s = await startDevice(base);
    const denied = await rest(base, "POST", `/api/device/requests/${s.user_code}/deny`, undefined, alice);
    expect(denied.status).toBe(200);
    expect(denied.body.request.status).toBe("denied");
    offsetMs += 10_000;
    const r = await poll(base, s.device_code);
    expect(r.status).toBe(400);
    expect(r.body.error).toBe("access_denied");
    const late = await rest(base, "POST", `/api/device/requests/${s.user_code}/approve`, {}, alice);
    expect(late.status).toBe(412);
    expect(late.body.error.message).toMatch(/denied/);
    const audit = await rest(base, "GET", "/api/audit?action=device.denied", undefined, alice);
    expect(audit.body.events[0].details).toMatchObject({ client: "cvw", host: "laptop" });
  });

  it("approval needs a signed-in session from this origin", async () => {
    const s = await startDevice(base);
    const path = `/api/device/requests/${s.user_code}`;
    expect((await rest(base, "GET", path)).status).toBe(401);
    const token = (await createToken(base, alice)).secret;
    expect((await rest(base, "GET", path, undefined, { token })).status).toBe(403);
    expect((await rest(base, "POST", `${path}/approve`, {}, { token })).status).toBe(403);
    const foreign = await rest(base, "POST", `${path}/approve`, {}, { ...alice, origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    const noOrigin = await fetch(`${base}${path}/approve`, {
      method: "POST",
      headers: { cookie: alice.cookie, "content-type": "application/json" },
      body: "{}",
    });
    expect(noOrigin.status).toBe(403);
    expect((await poll(base, s.device_code)).body.error).toBe("authorization_pending");
  });

  it("the same approval as Connect methods", async () => {
    const client = connectClient(base, alice);
    const s = await startDevice(base, { scope: "keys:read keys:write" });
    const got = await client.getDeviceRequest({ userCode: s.user_code.replace("-", " ") });
    expect(got.request).toMatchObject({ clientName: "cvw", clientHost: "laptop", scopes: ["keys:read", "keys:write"] });
    const approved = await client.approveDeviceRequest({ userCode: s.user_code, scopes: ["keys:write"] });
    expect(approved.request?.status).toBe("approved");
    offsetMs += 10_000;
    const token = noteToken(await poll(base, s.device_code));
    expect((await rest(base, "GET", "/api/auth/me", undefined, { token })).body.scopes).toEqual(["keys:write"]);

    const d = await startDevice(base);
    expect((await client.denyDeviceRequest({ userCode: d.user_code })).request?.status).toBe("denied");
    const err = await client.getDeviceRequest({ userCode: "BBBB-BBBB" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    const tokenClient = connectClient(base, { token: (await createToken(base, alice)).secret });
    const denied = await tokenClient.approveDeviceRequest({ userCode: s.user_code }).catch((e: unknown) => e);
    expect((denied as ConnectError).code).toBe(Code.PermissionDenied);
  });

  it("a token revokes itself without tokens:write (REST and Connect), audited; a session cannot", async () => {
    const bob = await signUp(base);
    const t = await createToken(base, bob, ["keys:read"]);
    const r = await rest(base, "DELETE", "/api/tokens/current", undefined, { token: t.secret });
    expect(r.status, r.text).toBe(200);
    expect((await rest(base, "GET", "/api/auth/me", undefined, { token: t.secret })).status).toBe(401);
    expect((await rest(base, "DELETE", "/api/tokens/current", undefined, bob)).status).toBe(403);
    const t2 = await createToken(base, bob, ["keys:read"]);
    await connectClient(base, { token: t2.secret }).revokeCurrentToken({});
    expect((await rest(base, "GET", "/api/auth/me", undefined, { token: t2.secret })).status).toBe(401);
    const audit = await rest(base, "GET", "/api/audit?action=token.revoked", undefined, bob);
    expect(audit.body.events.map((e: { target: { id: string } }) => e.target.id).sort()).toEqual([t.id, t2.id].sort());
    expect(audit.body.events[0].details).toMatchObject({ by: "itself" });
  });

  it("names the token as the tool asks (name), shown on the approval page", async () => {
    const s = await startDevice(base, { name: "laptop cvw" });
    const shown = await rest(base, "GET", `/api/device/requests/${s.user_code}`, undefined, alice);
    expect(shown.body.request.tokenName).toBe("laptop cvw");
    await rest(base, "POST", `/api/device/requests/${s.user_code}/approve`, {}, alice);
    offsetMs += 10_000;
    noteToken(await poll(base, s.device_code));
    const tokens = await rest(base, "GET", "/api/tokens", undefined, alice);
    expect(tokens.body.tokens.map((t: { name: string }) => t.name)).toContain("laptop cvw");
    const bad = await form(base, "/oauth/device/code", { client_id: "cvw", name: "a\u0001b" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe("invalid_request");
  });

  it("revokes a token presented to /oauth/revoke (RFC 7009); unknown tokens answer 200 too", async () => {
    const dave = await signUp(base);
    const t = await createToken(base, dave, ["keys:read"]);
    const r = await form(base, "/oauth/revoke", { token: t.secret, token_type_hint: "access_token", client_id: "cvw" });
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect((await rest(base, "GET", "/api/auth/me", undefined, { token: t.secret })).status).toBe(401);
    expect((await form(base, "/oauth/revoke", { token: t.secret })).status).toBe(200);
    expect((await form(base, "/oauth/revoke", { token: "cvw_not-a-token" })).status).toBe(200);
    const missing = await form(base, "/oauth/revoke", { client_id: "cvw" });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe("invalid_request");
    const hint = await form(base, "/oauth/revoke", { token: "x", token_type_hint: "id_token" });
    expect(hint.body.error).toBe("unsupported_token_type");
    const audit = await rest(base, "GET", "/api/audit?action=token.revoked", undefined, dave);
    expect(audit.body.events).toHaveLength(1);
    expect(audit.body.events[0]).toMatchObject({ target: { id: t.id }, details: { by: "itself" } });
  });

  it("records the client, host and repository on each retrieval and lists a key's recent fetches", async () => {
    const carol = await signUp(base);
    const key = await createKey(base, carol);
    const token = (await createToken(base, carol, ["keys:read"])).secret;
    const res = await fetch(`${base}/api/keys/provider/openai`, {
      headers: {
        authorization: `Bearer ${token}`,
        "cvw-client": "cv-git\t/2.3.0",
        "cvw-host": `lap\u0085top${"x".repeat(300)}`,
        "cvw-repository": "https://user:hunter2@github.com/acme/app",
      },
    });
    expect(res.status).toBe(200);
    // Percent-encoded UTF-8 (how cvw sends a non-ASCII host name) is decoded, then cleaned.
    await fetch(`${base}/api/keys/provider/openai`, {
      headers: { authorization: `Bearer ${token}`, "cvw-client": "cvw/0.1.0", "cvw-host": "l%C3%A2ptop%0A%E2%80%AE" },
    });
    await connectClient(base, { token }).getProviderKey(
      { provider: "openai" },
      {
        headers: { "cvw-client": "cvw/0.1.0", "cvw-host": "ci-runner", "cvw-repository": "github.com/acme/app" },
      },
    );
    const audit = await rest(base, "GET", "/api/audit?action=key.retrieved", undefined, carol);
    const [viaConnect, encoded, viaRest] = audit.body.events;
    expect(encoded.details.host).toBe("lâptop");
    expect(viaConnect.details).toMatchObject({
      client: "cvw/0.1.0",
      host: "ci-runner",
      repository: "github.com/acme/app",
    });
    expect(viaRest.details.client).toBe("cv-git/2.3.0");
    expect(viaRest.details.host).toMatch(/^laptopx+$/);
    expect(viaRest.details.host.length).toBe(255);
    expect(viaRest.details.repository).toBe("github.com/acme/app");
    expect(audit.text).not.toContain("hunter2");

    const fetches = await rest(base, "GET", `/api/keys/${key.id}/fetches`, undefined, carol);
    expect(fetches.status).toBe(200);
    expect(fetches.body.fetches).toHaveLength(3);
    expect(fetches.body.fetches[0]).toMatchObject({
      kind: "retrieved",
      client: "cvw/0.1.0",
      host: "ci-runner",
      repository: "github.com/acme/app",
      actor: { type: "token" },
    });
    const viaRpc = await connectClient(base, carol).listKeyFetches({ id: key.id, pageSize: 1 });
    expect(viaRpc.fetches).toHaveLength(1);
    expect(viaRpc.fetches[0]?.host).toBe("ci-runner");
    // Another user's key is not found.
    expect((await rest(base, "GET", `/api/keys/${key.id}/fetches`, undefined, alice)).status).toBe(404);
  });

  it("a generic OAuth client library (oauth4webapi) drives the whole flow", async () => {
    const as: oauth.AuthorizationServer = {
      issuer: base,
      device_authorization_endpoint: `${base}/oauth/device/code`,
      token_endpoint: `${base}/oauth/token`,
    };
    const client: oauth.Client = { client_id: "oauth4webapi-test" };
    const options = { [oauth.allowInsecureRequests]: true };
    const started = await oauth.processDeviceAuthorizationResponse(
      as,
      client,
      await oauth.deviceAuthorizationRequest(as, client, oauth.None(), { scope: "keys:read" }, options),
    );
    secretsSeen.add(started.device_code);
    secretsSeen.add(started.user_code);
    expect(started.user_code).toMatch(USER_CODE);
    const exchange = async () =>
      oauth.processDeviceCodeResponse(
        as,
        client,
        await oauth.deviceCodeGrantRequest(as, client, oauth.None(), started.device_code, options),
      );
    const pending = await exchange().catch((e: unknown) => e);
    expect(pending).toBeInstanceOf(oauth.ResponseBodyError);
    expect((pending as oauth.ResponseBodyError).error).toBe("authorization_pending");
    expect((await rest(base, "POST", `/api/device/requests/${started.user_code}/approve`, {}, alice)).status).toBe(200);
    offsetMs += (started.interval ?? 5) * 1000 + 1000;
    const tokens = await exchange();
    secretsSeen.add(tokens.access_token);
    expect(tokens.token_type).toBe("bearer");
    expect(tokens.access_token).toMatch(/^cvw_/);
    expect((await rest(base, "GET", "/api/auth/me", undefined, { token: tokens.access_token })).status).toBe(200);
  });

  it("leaves no device code, user code or token in the logs; logs the OAuth routes by pattern", () => {
    expectNoSecretsInLogs(stack);
    expect(stack.logs()).toContain('"route":"/oauth/token"');
    expect(stack.logs()).toContain('"route":"/oauth/device/code"');
  });
});

describe("device sign-in: wrong user codes are limited", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ clock });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("per session (10) and per address (30), wrong codes counting; then 429 with Retry-After", async () => {
    const base = stack.url;
    const s = await startDevice(base);
    const a = await signUp(base);
    for (let i = 0; i < 10; i++) {
      expect((await rest(base, "GET", "/api/device/requests/BBBB-BBB", undefined, a)).status).toBe(404);
    }
    const limited = await rest(base, "GET", `/api/device/requests/${s.user_code}`, undefined, a);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(limited.body.error.code).toBe("resource_exhausted");
    // Another session from the same address still has the address's remaining 20.
    const b = await signUp(base);
    expect((await rest(base, "GET", `/api/device/requests/${s.user_code}`, undefined, b)).status).toBe(200);
    for (let i = 0; i < 10; i++) await rest(base, "GET", "/api/device/requests/CCCC-CCCC", undefined, b);
    const c = await signUp(base);
    for (let i = 0; i < 10; i++) await rest(base, "GET", "/api/device/requests/DDDD-DDDD", undefined, c);
    const d = await signUp(base);
    const byAddress = await rest(base, "POST", `/api/device/requests/${s.user_code}/approve`, {}, d);
    expect(byAddress.status).toBe(429);
  });
});
