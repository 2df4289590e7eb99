// REST end to end: the real crypto service and wallet on loopback. Covers every route's
// success path, authentication, ownership (BOLA → not_found), scopes, token lifecycle,
// malformed input and limits.
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startValidationScheduler } from "../src/checks/scheduler.ts";
import { ROUTES } from "../src/edge/rest/rest.ts";
import {
  type Account,
  createKey,
  createToken,
  expectNoSecretsInLogs,
  fakeOpenAi,
  PASSWORD,
  rest,
  type Stack,
  signUp,
  startStack,
} from "./stack.ts";

let stack: Stack;
let base: string;
let openai: Awaited<ReturnType<typeof fakeOpenAi>>;
const validKeys = new Set<string>();

beforeAll(async () => {
  openai = await fakeOpenAi(validKeys);
  stack = await startStack({ providers: { baseUrlOverrides: { openai: openai.url } } });
  base = stack.url;
});
afterAll(async () => {
  if (stack) expectNoSecretsInLogs(stack);
  await stack?.stop();
  await openai?.close();
});

const ZERO_ID = "000000000000000000000000";

describe("the acceptance flow", () => {
  it("sign up, create a token, store a key, fetch it over REST and Connect, see usage and audit", async () => {
    const signup = await rest(base, "POST", "/api/auth/signup", { email: "Flow@Example.com", password: PASSWORD });
    expect(signup.status).toBe(201);
    expect(signup.body.user.email).toBe("flow@example.com");
    const setCookie = signup.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/^cvw_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
    const cookie = setCookie.split(";")[0]!;

    const me = await rest(base, "GET", "/api/auth/me", undefined, { cookie });
    expect(me.body).toMatchObject({ user: { email: "flow@example.com" }, authMethod: "session" });

    const token = await rest(
      base,
      "POST",
      "/api/tokens",
      { name: "cv-git", scopes: ["keys:read", "keys:write"] },
      { cookie },
    );
    expect(token.status).toBe(201);
    expect(token.body.secret).toMatch(/^cvw_[0-9A-Za-z]{36}$/);
    expect(token.body.token).toMatchObject({ name: "cv-git", scopes: ["keys:read", "keys:write"], providers: [] });
    expect(token.body.token.prefix).toBe(token.body.secret.slice(0, 8));
    const bearer = token.body.secret as string;

    const secret = "sk-proj-acceptance0123456789abcdef";
    const created = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "openai", name: "work", key: secret },
      { token: bearer },
    );
    expect(created.status).toBe(201);
    expect(created.body.key).toMatchObject({
      provider: "openai",
      name: "work",
      last4: "cdef",
      maskedKey: "••••cdef",
      isDefault: true,
      usageCount: 0,
      validation: { status: "unverified" },
    });
    expect(created.body.warnings).toEqual([]);
    expect(created.text).not.toContain(secret);

    const fetched = await rest(base, "GET", "/api/keys/provider/openai", undefined, { token: bearer });
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual({ key: secret });

    // The Connect JSON protocol, exactly as curl would send it.
    const rpc = await fetch(`${base}/cvwallet.wallet.v1.WalletService/GetProviderKey`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ provider: "openai" }),
    });
    expect(rpc.status).toBe(200);
    expect(await rpc.json()).toEqual({ key: secret });

    const record = await rest(base, "GET", `/api/keys/${created.body.key.id}`, undefined, { token: bearer });
    expect(record.body.key.usageCount).toBe(2);
    expect(record.body.key.lastUsedAt).toBeDefined();

    const tokens = await rest(base, "GET", "/api/tokens", undefined, { cookie });
    expect(tokens.body.tokens[0].lastUsedAt).toBeDefined();
    expect(tokens.text).not.toContain(bearer);

    const audit = await rest(base, "GET", "/api/audit?action=key.retrieved", undefined, { cookie });
    expect(audit.body.events).toHaveLength(2);
    expect(audit.body.events[0]).toMatchObject({
      action: "key.retrieved",
      actor: { type: "token", id: token.body.token.id, name: "cv-git" },
      target: { type: "key", id: created.body.key.id, name: "work" },
      details: { provider: "openai" },
    });
    expect(audit.text).not.toContain(secret);
    expect(audit.text).not.toContain(bearer);
  });
});

describe("authentication", () => {
  it("every route but sign-up, sign-in and the provider list answers 401 without credentials", async () => {
    const open = new Set(["signUp", "signIn", "listProviders"]);
    // Well-formed bodies: a malformed one is refused (400) before credentials are looked at.
    const bodies: Record<string, object> = {
      deleteAccount: { password: PASSWORD },
      createKey: { provider: "openai", name: "x", key: "sk-proj-0123456789" },
      createToken: { name: "x", scopes: ["keys:read"] },
      createTeam: { name: "x" },
      updateTeamMember: { role: "viewer" },
      createInvitation: { email: "x@example.com", role: "member" },
      acceptInvitation: { code: "x" },
      changePassword: { currentPassword: PASSWORD, newPassword: `${PASSWORD} 2` },
      setWebhook: { url: "https://hooks.example.com/x" },
    };
    for (const route of ROUTES.filter((r) => !open.has(r.op))) {
      const path = route.path
        .replace(":id", ZERO_ID)
        .replace(":provider", "openai")
        .replace(/:(teamId|userId|invitationId)/g, ZERO_ID);
      const r = await rest(
        base,
        route.method.toUpperCase(),
        path,
        route.method === "get" ? undefined : (bodies[route.op] ?? {}),
      );
      expect([route.path, r.status, r.body?.error?.code]).toEqual([route.path, 401, "unauthenticated"]);
    }
  });

  it("refuses malformed, unknown, revoked and expired tokens", async () => {
    const a = await signUp(base);
    expect((await rest(base, "GET", "/api/keys", undefined, { token: "nope" })).status).toBe(401);
    // Right shape, wrong checksum.
    expect((await rest(base, "GET", "/api/keys", undefined, { token: `cvw_${"a".repeat(36)}` })).status).toBe(401);
    const t = await createToken(base, a);
    expect((await rest(base, "GET", "/api/keys", undefined, { token: t.secret })).status).toBe(200);
    expect((await rest(base, "DELETE", `/api/tokens/${t.id}`, undefined, a)).status).toBe(200);
    const revoked = await rest(base, "GET", "/api/keys", undefined, { token: t.secret });
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.message).toMatch(/revoked/);
    expect((await rest(base, "GET", "/api/tokens", undefined, a)).body.tokens).toEqual([]);

    // An expired token: written straight to the store with an expiry in the past.
    const t2 = await createToken(base, a);
    const stored = (await stack.wallet.store.tokens.list(a.userId)).find((x) => x.id === t2.id)!;
    await stack.wallet.store.tokens.revoke(a.userId, t2.id, new Date()); // free the hash
    const { hashSecret } = await import("../src/domain/token-format.ts");
    const { generateToken } = await import("../src/domain/token-format.ts");
    const secret = generateToken();
    await stack.wallet.store.tokens.create({
      ...stored,
      id: `${stored.id.slice(0, 18)}ffffff`,
      hash: hashSecret(secret),
      revokedAt: undefined,
      expiresAt: new Date(Date.now() - 1000),
    });
    const expired = await rest(base, "GET", "/api/keys", undefined, { token: secret });
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toMatch(/expired/);
  });

  it("a non-Bearer Authorization header is a wrong credential, not a missing one", async () => {
    const r = await fetch(`${base}/api/keys`, { headers: { authorization: "Basic dXNlcjpwYXNz" } });
    expect(r.status).toBe(401);
  });

  it("sign-in works, wrong passwords are refused, and sign-out ends the session", async () => {
    const a = await signUp(base);
    const wrong = await rest(base, "POST", "/api/auth/login", { email: a.email, password: "wrong password!!" });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe("unauthenticated");
    const unknown = await rest(base, "POST", "/api/auth/login", { email: "nobody@example.com", password: PASSWORD });
    expect(unknown.body.error.message).toBe(wrong.body.error.message);
    const ok = await rest(base, "POST", "/api/auth/login", { email: a.email.toUpperCase(), password: PASSWORD });
    expect(ok.status).toBe(200);
    const cookie = ok.headers.get("set-cookie")!.split(";")[0]!;
    const out = await rest(base, "POST", "/api/auth/logout", undefined, { cookie });
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toMatch(/^cvw_session=; .*Max-Age=0/);
    expect((await rest(base, "GET", "/api/auth/me", undefined, { cookie })).status).toBe(401);
    // The other session (from sign-up) is still alive.
    expect((await rest(base, "GET", "/api/auth/me", undefined, a)).status).toBe(200);
  });

  it("throttles failed sign-ins per account: the right password is refused once blocked", async () => {
    const a = await signUp(base);
    for (let i = 0; i < 5; i++) {
      expect(
        (await rest(base, "POST", "/api/auth/login", { email: a.email, password: "not the password" })).status,
      ).toBe(401);
    }
    const blocked = await rest(base, "POST", "/api/auth/login", { email: a.email, password: PASSWORD });
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe("resource_exhausted");
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("refuses a duplicate email with 409 and a short password with 400", async () => {
    const a = await signUp(base);
    const dup = await rest(base, "POST", "/api/auth/signup", { email: a.email, password: PASSWORD });
    expect([dup.status, dup.body.error.code]).toEqual([409, "already_exists"]);
    const short = await rest(base, "POST", "/api/auth/signup", { email: "x@example.com", password: "short" });
    expect([short.status, short.body.error.code]).toEqual([400, "invalid_argument"]);
    expect(short.body.error.message).toMatch(/^password: /);
    expect(short.text).not.toContain('short"');
  });
});

describe("sessions behind a public HTTPS origin, and expiry", () => {
  it("with WALLET_PUBLIC_URL on https: Secure cookie, HSTS, and Origin checked against it", async () => {
    const publicUrl = "https://wallet.example.com";
    const w = await stack.startAnotherWallet({ publicUrl });
    const email = `public-${Date.now()}@example.com`;
    const refused = await rest(w.url, "POST", "/api/auth/signup", { email, password: PASSWORD }, { origin: w.url });
    expect(refused.status).toBe(403);
    const r = await rest(w.url, "POST", "/api/auth/signup", { email, password: PASSWORD }, { origin: publicUrl });
    expect(r.status).toBe(201);
    expect(r.headers.get("set-cookie")).toMatch(/; Secure/);
    expect(r.headers.get("strict-transport-security")).toMatch(/max-age=\d+/);
    const cookie = r.headers.get("set-cookie")!.split(";")[0]!;
    const body = { name: "x", scopes: ["keys:read"] };
    expect((await rest(w.url, "POST", "/api/tokens", body, { cookie, origin: w.url })).status).toBe(403);
    expect((await rest(w.url, "POST", "/api/tokens", body, { cookie, origin: publicUrl })).status).toBe(201);
  });

  it("a session stops working when it expires", async () => {
    const w = await stack.startAnotherWallet({ sessionTtlMs: 1000 });
    const a = await signUp(w.url);
    expect((await rest(w.url, "GET", "/api/auth/me", undefined, a)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1200));
    const expired = await rest(w.url, "GET", "/api/auth/me", undefined, a);
    expect([expired.status, expired.body.error.code]).toEqual([401, "unauthenticated"]);
  });
});

describe("CSRF", () => {
  it("refuses cookie-authenticated writes without our Origin; bearer writes need none", async () => {
    const a = await signUp(base);
    const body = { name: "x", scopes: ["keys:read"] };
    const none = await rest(base, "POST", "/api/tokens", body, { cookie: a.cookie, origin: "" });
    expect([none.status, none.body.error.code]).toEqual([403, "permission_denied"]);
    const evil = await rest(base, "POST", "/api/tokens", body, { cookie: a.cookie, origin: "https://evil.example" });
    expect(evil.status).toBe(403);
    // Same host, other scheme: a page served over https is not this http origin (and vice versa).
    const otherScheme = base.replace(/^http:/, "https:");
    expect((await rest(base, "POST", "/api/tokens", body, { cookie: a.cookie, origin: otherScheme })).status).toBe(403);
    expect((await rest(base, "POST", "/api/tokens", body, { cookie: a.cookie, origin: base })).status).toBe(201);
    // Reads with the cookie need no Origin.
    expect((await rest(base, "GET", "/api/tokens", undefined, { cookie: a.cookie })).status).toBe(200);
    const t = await createToken(base, a);
    expect(
      (
        await rest(
          base,
          "POST",
          "/api/keys",
          { provider: "groq", name: "g", key: "gsk_0123456789" },
          { token: t.secret },
        )
      ).status,
    ).toBe(201);
    // Signing in from another site's page is refused too.
    const login = await rest(
      base,
      "POST",
      "/api/auth/login",
      { email: a.email, password: PASSWORD },
      { origin: "https://evil.example" },
    );
    expect(login.status).toBe(403);
  });
});

describe("keys", () => {
  let a: Account;
  let token: string;
  beforeAll(async () => {
    a = await signUp(base);
    token = (await createToken(base, a)).secret;
  });

  it("lists, gets, updates, deletes; the first key of a provider becomes its default", async () => {
    const k1 = await createKey(
      base,
      { token },
      { provider: "anthropic", name: "first", key: "sk-ant-first-0123456789" },
    );
    expect(k1.body.key.isDefault).toBe(true);
    const k2 = await createKey(
      base,
      { token },
      { provider: "anthropic", name: "second", key: "sk-ant-second-0123456789" },
    );
    expect(k2.body.key.isDefault).toBe(false);
    expect((await rest(base, "GET", "/api/keys/provider/anthropic", undefined, { token })).body.key).toBe(
      "sk-ant-first-0123456789",
    );
    expect((await rest(base, "GET", "/api/keys/provider/anthropic?name=second", undefined, { token })).body.key).toBe(
      "sk-ant-second-0123456789",
    );

    const expiresAt = new Date(Date.now() + 10.5 * 86_400_000).toISOString();
    const patched = await rest(
      base,
      "PATCH",
      `/api/keys/${k2.id}`,
      { isDefault: true, name: "renamed", expiresAt },
      { token },
    );
    expect(patched.status).toBe(200);
    expect(patched.body.key).toMatchObject({ isDefault: true, name: "renamed", expiresInDays: 10 });
    expect((await rest(base, "GET", `/api/keys/${k1.id}`, undefined, { token })).body.key.isDefault).toBe(false);
    expect((await rest(base, "GET", "/api/keys/provider/anthropic", undefined, { token })).body.key).toBe(
      "sk-ant-second-0123456789",
    );

    const rotated = await rest(
      base,
      "PATCH",
      `/api/keys/${k2.id}`,
      { key: "sk-ant-rotated-99999999", expiresAt: null },
      { token },
    );
    expect(rotated.body.key).toMatchObject({ last4: "9999", maskedKey: "••••9999" });
    expect(rotated.body.key.expiresAt).toBeUndefined();
    expect(rotated.body.key.expiresInDays).toBeUndefined();
    expect((await rest(base, "GET", "/api/keys/provider/anthropic", undefined, { token })).body.key).toBe(
      "sk-ant-rotated-99999999",
    );

    const clash = await rest(base, "PATCH", `/api/keys/${k1.id}`, { name: "renamed" }, { token });
    expect([clash.status, clash.body.error.code]).toEqual([409, "already_exists"]);
    const dup = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "anthropic", name: "first", key: "sk-ant-x-01234567" },
      { token },
    );
    expect([dup.status, dup.body.error.code]).toEqual([409, "already_exists"]);

    const list = await rest(base, "GET", "/api/keys?provider=anthropic", undefined, { token });
    expect(list.body.keys.map((k: { name: string }) => k.name).sort()).toEqual(["first", "renamed"]);
    expect(list.text).not.toContain("sk-ant-");

    expect((await rest(base, "DELETE", `/api/keys/${k1.id}`, undefined, { token })).status).toBe(200);
    expect((await rest(base, "GET", `/api/keys/${k1.id}`, undefined, { token })).status).toBe(404);
    expect((await rest(base, "DELETE", `/api/keys/${k1.id}`, undefined, { token })).status).toBe(404);
  });

  it("pages through a listing", async () => {
    const b = await signUp(base);
    const t = (await createToken(base, b)).secret;
    for (let i = 0; i < 5; i++) await createKey(base, { token: t }, { provider: "mistral", name: `m${i}` });
    const first = await rest(base, "GET", "/api/keys?page_size=2", undefined, { token: t });
    expect(first.body.keys).toHaveLength(2);
    const second = await rest(base, "GET", `/api/keys?pageSize=2&pageToken=${first.body.nextPageToken}`, undefined, {
      token: t,
    });
    const third = await rest(base, "GET", `/api/keys?pageSize=2&pageToken=${second.body.nextPageToken}`, undefined, {
      token: t,
    });
    expect(third.body.keys).toHaveLength(1);
    expect(third.body.nextPageToken).toBe("");
    const names = [...first.body.keys, ...second.body.keys, ...third.body.keys].map((k: { name: string }) => k.name);
    expect(new Set(names).size).toBe(5);
    expect((await rest(base, "GET", "/api/keys?pageToken=garbage", undefined, { token: t })).status).toBe(400);
  });

  it("filters keys expiring soon and keys that need attention", async () => {
    const b = await signUp(base);
    const t = (await createToken(base, b)).secret;
    const soon = await createKey(
      base,
      { token: t },
      { name: "soon", expiresAt: new Date(Date.now() + 3 * 86_400_000).toISOString() },
    );
    await createKey(
      base,
      { token: t },
      { name: "later", expiresAt: new Date(Date.now() + 90 * 86_400_000).toISOString() },
    );
    const bad = await createKey(base, { token: t }, { name: "bad", key: "sk-proj-revoked-000000" });
    await rest(base, "POST", `/api/keys/${bad.id}/validate`, undefined, { token: t });
    const expiring = await rest(base, "GET", "/api/keys?expiring_within_days=7", undefined, { token: t });
    expect(expiring.body.keys.map((k: { id: string }) => k.id)).toEqual([soon.id]);
    expect(expiring.body.keys[0].expiresInDays).toBe(2);
    const attention = await rest(base, "GET", "/api/keys?needs_attention=true", undefined, { token: t });
    expect(attention.body.keys.map((k: { id: string }) => k.id).sort()).toEqual([soon.id, bad.id].sort());
    expect((await rest(base, "GET", "/api/keys?needs_attention=maybe", undefined, { token: t })).status).toBe(400);
  });

  it("reveals a key to its owner, audited and counted as a reveal; usage per day is retrievals by token", async () => {
    const k = await createKey(
      base,
      { cookie: a.cookie },
      { provider: "cohere", name: "reveal-vs-use", key: "co-reveal-0123456789" },
    );
    const revealed = await rest(base, "POST", `/api/keys/${k.id}/reveal`, undefined, a);
    expect(revealed.body).toEqual({ key: k.key });
    const audit = await rest(base, "GET", "/api/audit?action=key.revealed", undefined, a);
    expect(audit.body.events[0]).toMatchObject({ actor: { type: "session", name: a.email }, target: { id: k.id } });
    const tool = await createToken(base, a);
    for (let i = 0; i < 2; i++) {
      expect(
        (await rest(base, "GET", "/api/keys/provider/cohere?name=reveal-vs-use", undefined, { token: tool.secret }))
          .status,
      ).toBe(200);
    }
    const record = (await rest(base, "GET", `/api/keys/${k.id}`, undefined, a)).body.key;
    expect(record).toMatchObject({ usageCount: 2, retrievals: 2, revealCount: 1 });
    expect(Date.parse(record.lastRevealedAt)).toBeGreaterThan(0);
    const usage = await rest(base, "GET", `/api/keys/${k.id}/usage?days=7`, undefined, a);
    expect(usage.body.days).toHaveLength(7);
    const tokenName = (await rest(base, "GET", "/api/tokens", undefined, a)).body.tokens.find(
      (t: { id: string }) => t.id === tool.id,
    ).name;
    expect(usage.body.days.at(-1)).toEqual({
      date: new Date().toISOString().slice(0, 10),
      count: 2,
      retrievals: 2,
      reveals: 1,
      tokens: [{ tokenId: tool.id, tokenName, retrievals: 2 }],
    });
    expect(usage.body.days[0]).toMatchObject({ count: 0, reveals: 0, tokens: [] });
    expect((await rest(base, "GET", `/api/keys/${k.id}/usage`, undefined, a)).body.days).toHaveLength(30);
    expect((await rest(base, "GET", `/api/keys/${k.id}/usage?days=400`, undefined, a)).status).toBe(400);
  });

  it("audits metadata reads once an hour per actor and record, and every plaintext read", async () => {
    const b = await signUp(base);
    const t = await createToken(base, b);
    const k = await createKey(base, { token: t.secret });
    for (let i = 0; i < 3; i++) {
      await rest(base, "GET", "/api/keys", undefined, { token: t.secret });
      await rest(base, "GET", `/api/keys/${k.id}`, undefined, { token: t.secret });
      await rest(base, "POST", `/api/keys/${k.id}/reveal`, undefined, { token: t.secret });
    }
    await rest(base, "GET", "/api/keys", undefined, b); // another actor: its own event
    const events = (await rest(base, "GET", "/api/audit", undefined, b)).body.events as {
      action: string;
      actor: { type: string };
    }[];
    const count = (action: string, actor?: string) =>
      events.filter((e) => e.action === action && (!actor || e.actor.type === actor)).length;
    expect(count("keys.listed", "token")).toBe(1);
    expect(count("keys.listed", "session")).toBe(1);
    expect(count("key.viewed")).toBe(1);
    expect(count("key.revealed")).toBe(3);
  });

  it("100 concurrent retrievals raise usageCount by exactly 100", async () => {
    const b = await signUp(base);
    const t = (await createToken(base, b)).secret;
    const k = await createKey(base, { token: t }, { provider: "together" });
    const replies = await Promise.all(
      Array.from({ length: 100 }, () => rest(base, "GET", "/api/keys/provider/together", undefined, { token: t })),
    );
    expect(replies.every((r) => r.status === 200 && r.body.key === k.key)).toBe(true);
    const after = await rest(base, "GET", `/api/keys/${k.id}`, undefined, { token: t });
    expect(after.body.key.usageCount).toBe(100);
    const usage = await rest(base, "GET", `/api/keys/${k.id}/usage?days=1`, undefined, { token: t });
    expect(usage.body.days[0].count).toBe(100);
  });

  it("two wallet instances over one SQLite file count exactly and keep names and defaults unique", async () => {
    const other = await stack.startAnotherWallet({});
    const b = await signUp(base);
    const t = (await createToken(base, b)).secret;
    const k = await createKey(base, { token: t }, { provider: "mistral", name: "shared" });
    const replies = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        rest(i % 2 ? other.url : base, "GET", "/api/keys/provider/mistral", undefined, { token: t }),
      ),
    );
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect((await rest(other.url, "GET", `/api/keys/${k.id}`, undefined, { token: t })).body.key.usageCount).toBe(60);

    const same = { provider: "cohere", name: "race", key: "cohere-race-0123456789" };
    const race = await Promise.all([base, other.url].map((url) => rest(url, "POST", "/api/keys", same, { token: t })));
    expect(race.map((r) => r.status).sort()).toEqual([201, 409]);

    const defaults = await Promise.all(
      [base, other.url, base, other.url].map((url, i) =>
        rest(
          url,
          "POST",
          "/api/keys",
          { provider: "together", name: `d${i}`, key: `together-${i}-0123456789`, isDefault: true },
          { token: t },
        ),
      ),
    );
    expect(defaults.every((r) => r.status === 201 || r.status === 409)).toBe(true);
    const listed = (await rest(base, "GET", "/api/keys?provider=together", undefined, { token: t })).body.keys;
    expect(listed.filter((x: { isDefault: boolean }) => x.isDefault)).toHaveLength(1);
  });

  it("answers not_found for a provider without keys and for an unknown name", async () => {
    const b = await signUp(base);
    const t = (await createToken(base, b)).secret;
    expect((await rest(base, "GET", "/api/keys/provider/cohere", undefined, { token: t })).status).toBe(404);
    await createKey(base, { token: t }, { provider: "cohere", name: "c" });
    expect((await rest(base, "GET", "/api/keys/provider/cohere?name=zzz", undefined, { token: t })).status).toBe(404);
  });

  it("warns when a key's prefix belongs to another provider, and still saves it", async () => {
    const k = await createKey(base, { token }, { provider: "openai", key: "sk-ant-api03-looks-anthropic" });
    expect(k.body.warnings).toHaveLength(1);
    expect(k.body.warnings[0]).toMatch(/Anthropic/);
    expect(k.body.warnings[0]).not.toContain("looks-anthropic");
  });

  it("custom keys need a safe https base URL; other providers take none", async () => {
    const noUrl = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "custom", name: "c1", key: "custom-key-123" },
      { token },
    );
    expect(noUrl.status).toBe(400);
    for (const baseUrl of [
      "http://api.example.com",
      "https://127.0.0.1/v1",
      "https://169.254.169.254",
      "https://[::1]/",
    ]) {
      const r = await rest(
        base,
        "POST",
        "/api/keys",
        { provider: "custom", name: "c2", key: "custom-key-123", baseUrl },
        { token },
      );
      expect([baseUrl, r.status, r.body.error.code]).toEqual([baseUrl, 400, "invalid_argument"]);
    }
    const wrong = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "openai", name: "o", key: "sk-proj-0123456789", baseUrl: "https://x.example" },
      { token },
    );
    expect(wrong.status).toBe(400);
    const ok = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "custom", name: "c3", key: "custom-key-123", baseUrl: "https://1.1.1.1/v1/" },
      { token },
    );
    expect(ok.status).toBe(201);
    expect(ok.body.key.baseUrl).toBe("https://1.1.1.1/v1");
  });
});

describe("validation", () => {
  it("checks on save when asked, on demand, and records each check in the audit log", async () => {
    const a = await signUp(base);
    const t = (await createToken(base, a)).secret;
    const good = "sk-proj-valid-key-000001";
    validKeys.add(good);
    const created = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "openai", name: "v", key: good, validate: true },
      { token: t },
    );
    expect(created.status).toBe(201);
    expect(created.body.key.validation).toMatchObject({ status: "valid" });
    expect(created.body.key.validation.checkedAt).toBeDefined();

    validKeys.delete(good); // the provider revokes it
    const checked = await rest(base, "POST", `/api/keys/${created.body.key.id}/validate`, undefined, a);
    expect(checked.status).toBe(200);
    expect(checked.body.key.validation.status).toBe("invalid");
    expect(checked.body.key.validation.detail).toMatch(/401/);
    expect(checked.text).not.toContain(good);
    const stored = await rest(base, "GET", `/api/keys/${created.body.key.id}`, undefined, a);
    expect(stored.body.key.validation.status).toBe("invalid");
    const audit = await rest(base, "GET", "/api/audit?action=key.validated", undefined, a);
    expect(
      audit.body.events.map((e: { actor: { type: string }; details: { status: string } }) => [
        e.actor.type,
        e.details.status,
      ]),
    ).toEqual([
      ["session", "invalid"],
      ["token", "valid"],
    ]);
  });

  it("the schedule re-checks keys that are due, as the system", async () => {
    // A stack of its own: the schedule checks every due key in the store.
    const own = await startStack({ providers: { baseUrlOverrides: { openai: openai.url } } });
    try {
      const a = await signUp(own.url);
      const t = (await createToken(own.url, a)).secret;
      const good = "sk-proj-scheduled-000002";
      validKeys.add(good);
      const k = await createKey(own.url, { token: t }, { key: good });
      const scheduler = startValidationScheduler({
        intervalMs: 60_000,
        concurrencyPerProvider: 2,
        listDue: own.wallet.revalidation.listDue,
        runCheck: own.wallet.revalidation.runCheck,
        logger: captureLogs().logger,
      });
      const summary = await scheduler.runOnce();
      await scheduler.stop();
      expect(summary).toMatchObject({ checked: 1, failed: 0, byStatus: { valid: 1 } });
      const after = await rest(own.url, "GET", `/api/keys/${k.id}`, undefined, { token: t });
      expect(after.body.key.validation.status).toBe("valid");
      const audit = await rest(own.url, "GET", "/api/audit?action=key.validated", undefined, { token: t });
      expect(audit.body.events[0]).toMatchObject({ actor: { type: "system" }, details: { status: "valid" } });
      // Checked just now: not due again.
      expect(await own.wallet.revalidation.listDue(new Date(Date.now() - 60_000), 10)).toEqual([]);
    } finally {
      await own.stop();
    }
  });

  it("a provider outage never fails a save: the key is stored unreachable, as Check now says", async () => {
    const down = await stack.startAnotherWallet({ providers: { baseUrlOverrides: { openai: "http://127.0.0.1:9" } } });
    const a = await signUp(down.url);
    const t = (await createToken(down.url, a)).secret;
    const r = await rest(
      down.url,
      "POST",
      "/api/keys",
      { provider: "openai", name: "o", key: "sk-proj-0123456789", validate: true },
      { token: t },
    );
    expect(r.status).toBe(201);
    expect(r.body.key.validation.status).toBe("unreachable");
    const now = await rest(down.url, "POST", `/api/keys/${r.body.key.id}/validate`, undefined, { token: t });
    expect(now.body.key.validation.status).toBe("unreachable");
  });
});

describe("ownership (BOLA)", () => {
  it("another user, by session or token, gets not_found for every record of the first", async () => {
    const a = await signUp(base);
    const aToken = await createToken(base, a);
    const k = await createKey(base, { token: aToken.secret }, { provider: "google", key: "AIzaSyOwnedByA-0123456789" });
    const b = await signUp(base);
    const bToken = (await createToken(base, b)).secret;
    for (const auth of [{ cookie: b.cookie }, { token: bToken }]) {
      for (const [method, path, body] of [
        ["GET", `/api/keys/${k.id}`],
        ["PATCH", `/api/keys/${k.id}`, { name: "stolen" }],
        ["DELETE", `/api/keys/${k.id}`],
        ["POST", `/api/keys/${k.id}/reveal`],
        ["POST", `/api/keys/${k.id}/validate`],
        ["GET", `/api/keys/${k.id}/usage`],
        ["GET", "/api/keys/provider/google"],
        ["DELETE", `/api/tokens/${aToken.id}`],
      ] as const) {
        const r = await rest(base, method, path, body, auth);
        expect([method, path, r.status, r.body.error.code]).toEqual([method, path, 404, "not_found"]);
      }
      expect((await rest(base, "GET", "/api/keys", undefined, auth)).body.keys).toEqual([]);
      const audit = await rest(base, "GET", "/api/audit", undefined, auth);
      expect(audit.text).not.toContain(k.id);
    }
    // Nothing changed for the owner.
    const owner = await rest(base, "GET", `/api/keys/${k.id}`, undefined, { token: aToken.secret });
    expect(owner.body.key).toMatchObject({ usageCount: 0, provider: "google" });
    expect((await rest(base, "GET", "/api/keys", undefined, { token: aToken.secret })).status).toBe(200);
  });
});

describe("scopes", () => {
  it("a token can do only what its scopes and provider list allow", async () => {
    const a = await signUp(base);
    const k = await createKey(base, { cookie: a.cookie }, { provider: "openrouter", key: "sk-or-v1-0123456789" });
    const readOnly = (await createToken(base, a, ["keys:read"])).secret;
    expect((await rest(base, "GET", "/api/keys/provider/openrouter", undefined, { token: readOnly })).status).toBe(200);
    for (const [method, path, body] of [
      ["POST", "/api/keys", { provider: "groq", name: "g", key: "gsk_0123456789" }],
      ["PATCH", `/api/keys/${k.id}`, { name: "x" }],
      ["DELETE", `/api/keys/${k.id}`],
      ["POST", `/api/keys/${k.id}/validate`],
      ["POST", "/api/tokens", { name: "x", scopes: ["keys:read"] }],
      ["GET", "/api/tokens"],
    ] as const) {
      const r = await rest(base, method, path, body, { token: readOnly });
      expect([method, path, r.status, r.body.error.code]).toEqual([method, path, 403, "permission_denied"]);
    }
    const writeOnly = (await createToken(base, a, ["keys:write"])).secret;
    expect((await rest(base, "GET", "/api/keys/provider/openrouter", undefined, { token: writeOnly })).status).toBe(
      403,
    );
    expect((await rest(base, "GET", "/api/keys", undefined, { token: writeOnly })).status).toBe(403);

    const onlyGroq = (await createToken(base, a, ["keys:read", "keys:write", "tokens:write"], ["groq"])).secret;
    expect((await rest(base, "GET", "/api/keys/provider/openrouter", undefined, { token: onlyGroq })).status).toBe(403);
    expect((await rest(base, "GET", `/api/keys/${k.id}`, undefined, { token: onlyGroq })).status).toBe(404);
    expect((await rest(base, "GET", "/api/keys", undefined, { token: onlyGroq })).body.keys).toEqual([]);
    expect((await rest(base, "GET", "/api/audit", undefined, { token: onlyGroq })).status).toBe(403);
    const other = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "mistral", name: "m", key: "mistral-0123456789" },
      { token: onlyGroq },
    );
    expect(other.status).toBe(403);

    // A token cannot mint a token with more than it has.
    const wider = await rest(base, "POST", "/api/tokens", { name: "w", scopes: ["keys:read"] }, { token: onlyGroq });
    expect(wider.status).toBe(403);
    const narrower = await rest(
      base,
      "POST",
      "/api/tokens",
      { name: "n", scopes: ["keys:read"], providers: ["groq"] },
      { token: onlyGroq },
    );
    expect(narrower.status).toBe(201);
    const tokenWriter = (await createToken(base, a, ["tokens:write"])).secret;
    const escalate = await rest(
      base,
      "POST",
      "/api/tokens",
      { name: "e", scopes: ["keys:read"] },
      { token: tokenWriter },
    );
    expect([escalate.status, escalate.body.error.code]).toEqual([403, "permission_denied"]);

    // Session-only operations.
    expect((await rest(base, "POST", "/api/auth/logout", undefined, { token: onlyGroq })).status).toBe(403);
    expect((await rest(base, "DELETE", "/api/auth/account", { password: PASSWORD }, { token: onlyGroq })).status).toBe(
      403,
    );
    const me = await rest(base, "GET", "/api/auth/me", undefined, { token: onlyGroq });
    expect(me.body).toMatchObject({ authMethod: "token", scopes: ["keys:read", "keys:write", "tokens:write"] });
  });
});

describe("malformed input and limits", () => {
  let token: string;
  beforeAll(async () => {
    const a = await signUp(base);
    token = (await createToken(base, a)).secret;
  });

  it("answers 400 with the error shape, naming the field but never echoing the value", async () => {
    const cases: [string, string, string | object][] = [
      ["POST", "/api/keys", '{"provider": "openai", "name": "x", "key": "sk-proj-SECRETVALUE1",'],
      ["POST", "/api/keys", "[1,2,3]"],
      ["POST", "/api/keys", { provider: "openai", name: "x", key: 12345678901234 }],
      ["POST", "/api/keys", { provider: "openai", name: "x", key: "sk-proj-SECRETVALUE2", colour: "red" }],
      ["POST", "/api/keys", { provider: "acme", name: "x", key: "sk-proj-SECRETVALUE3" }],
      ["POST", "/api/keys", { provider: "openai", name: "x", key: "has space SECRETVALUE4" }],
      ["POST", "/api/keys", { provider: "openai", name: "x", key: `sk-${"A".repeat(4100)}` }],
      ["POST", "/api/keys", { provider: "openai", name: "n".repeat(101), key: "sk-proj-SECRETVALUE5" }],
      ["POST", "/api/keys", { provider: "openai", name: "x", key: "sk-proj-SECRETVALUE6", expiresAt: "tomorrow" }],
      ["GET", "/api/keys/provider/acme", ""],
      ["GET", "/api/keys/not-an-id", ""],
      ["PATCH", "/api/keys/ZZZ", { name: "x" }],
      ["GET", "/api/keys?page_size=9999", ""],
      ["GET", "/api/keys?expiring_within_days=abc", ""],
      ["POST", "/api/tokens", { name: "x", scopes: ["admin"] }],
      ["POST", "/api/tokens", { name: "x", scopes: [] }],
      ["POST", "/api/tokens", { name: "x", scopes: ["keys:read"], expiresInDays: 1000 }],
    ];
    for (const [method, path, body] of cases) {
      const r = await rest(base, method, path, method === "GET" ? undefined : body, { token });
      expect([path, r.status, r.body?.error?.code]).toEqual([path, 400, "invalid_argument"]);
      expect(typeof r.body.error.message).toBe("string");
      expect(r.text).not.toMatch(/SECRETVALUE|AAAAAAAA|12345678901234|stack|at .*\.ts/);
    }
  });

  it("refuses a body over the limit with 413", async () => {
    const r = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "openai", name: "x", key: "k".repeat(70_000) },
      { token },
    );
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe("resource_exhausted");
  });

  it("limits key retrievals per token with 429 and Retry-After", async () => {
    const limited = await stack.startAnotherWallet({ retrievalRateLimitPerMinute: 3 });
    const a = await signUp(limited.url);
    const t = (await createToken(limited.url, a)).secret;
    await createKey(limited.url, { token: t }, { provider: "groq", key: "gsk_0123456789abcdef" });
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof rest>> | undefined;
    for (let i = 0; i < 4; i++) {
      last = await rest(limited.url, "GET", "/api/keys/provider/groq", undefined, { token: t });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(last!.body.error.code).toBe("resource_exhausted");
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Another token has its own budget.
    const t2 = (await createToken(limited.url, a)).secret;
    expect((await rest(limited.url, "GET", "/api/keys/provider/groq", undefined, { token: t2 })).status).toBe(200);
  });
});

describe("providers, account deletion, service endpoints", () => {
  it("lists the provider registry without credentials", async () => {
    const r = await rest(base, "GET", "/api/providers");
    expect(r.status).toBe(200);
    expect(r.body.providers.map((p: { id: string }) => p.id)).toEqual([
      "openai",
      "anthropic",
      "google",
      "mistral",
      "cohere",
      "groq",
      "together",
      "openrouter",
      "custom",
    ]);
    expect(r.body.providers[0]).toMatchObject({ envVar: "OPENAI_API_KEY", defaultBaseUrl: "https://api.openai.com" });
    expect(r.body.providers[1].keyPrefixes).toContain("sk-ant-");
  });

  it("deletes an account only with its password, shredding the tenant key first", async () => {
    const a = await signUp(base);
    const k = await createKey(base, { cookie: a.cookie });
    const record = await stack.wallet.store.keys.get(a.userId, k.id);
    expect((await rest(base, "DELETE", "/api/auth/account", { password: "wrong password" }, a)).status).toBe(401);
    const r = await rest(base, "DELETE", "/api/auth/account", { password: PASSWORD }, a);
    expect(r.status).toBe(200);
    expect((await rest(base, "GET", "/api/auth/me", undefined, a)).status).toBe(401);
    expect((await rest(base, "POST", "/api/auth/login", { email: a.email, password: PASSWORD })).status).toBe(401);
    expect(await stack.wallet.store.keys.get(a.userId, k.id)).toBeUndefined();
    // The ciphertext, had anyone kept a copy, no longer decrypts: its tenant key is gone.
    const { createCryptoClient } = await import("../src/clients/crypto.ts");
    const { captureLogs } = await import("@cv-wallet/common/testing/logs");
    const cc = createCryptoClient({
      address: stack.crypto()!.address,
      token: stack.cryptoToken,
      timeoutMs: 2000,
      logger: captureLogs().logger,
    });
    try {
      await expect(cc.decrypt(a.userId, k.id, "key", record!.ciphertext)).rejects.toMatchObject({
        code: "failed_precondition",
      });
    } finally {
      cc.close();
    }
  });

  it("serves health, readiness, metrics, security headers and JSON 404s", async () => {
    expect((await rest(base, "GET", "/healthz")).body).toEqual({ status: "ok" });
    expect((await rest(base, "GET", "/readyz")).body).toEqual({ status: "ready" });
    // Metrics are served on their own listener only, never on the public port.
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    const metrics = await fetch(`${stack.wallet.metricsUrl}/metrics`).then((r) => r.text());
    expect(metrics).toContain("wallet_http_request_duration_seconds");
    expect(metrics).toMatch(
      /^wallet_key_retrievals_total\{(?=[^}]*provider="openai")(?=[^}]*kind="provider")[^}]*\} /m,
    );
    const nope = await rest(base, "GET", "/api/nope");
    expect([nope.status, nope.body.error.code]).toEqual([404, "not_found"]);
    expect(nope.headers.get("x-content-type-options")).toBe("nosniff");
    expect(nope.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(nope.headers.get("cache-control")).toBe("no-store");
    expect(nope.headers.get("x-powered-by")).toBeNull();
    expect((await rest(base, "GET", "/")).status).toBe(404);
  });
});
