// Token lineage (a token minted by a token dies with it and never exceeds it) and the browser
// sessions a person can manage (list, end one, end the others, change the password), over
// REST and Connect.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connectClient,
  createToken,
  expectNoSecretsInLogs,
  PASSWORD,
  rest,
  type Stack,
  signUp,
  startStack,
} from "./stack.ts";

let stack: Stack;
let base: string;

beforeAll(async () => {
  stack = await startStack();
  base = stack.url;
});
afterAll(async () => {
  if (stack) expectNoSecretsInLogs(stack);
  await stack?.stop();
});

const mint = async (parent: string, body: Record<string, unknown>) =>
  rest(base, "POST", "/api/tokens", { name: "child", ...body }, { token: parent });

describe("token lineage", () => {
  it("revoking a token revokes its children and grandchildren", async () => {
    const a = await signUp(base);
    const root = await createToken(base, a, ["keys:read", "tokens:write"]);
    const child = await mint(root.secret, { scopes: ["keys:read", "tokens:write"] });
    expect(child.status).toBe(201);
    expect(child.body.token.parentId).toBe(root.id);
    const grandchild = await mint(child.body.secret, { scopes: ["keys:read"] });
    expect(grandchild.status).toBe(201);
    const other = await createToken(base, a, ["keys:read"]);

    expect((await rest(base, "DELETE", `/api/tokens/${root.id}`, undefined, a)).status).toBe(200);
    for (const secret of [root.secret, child.body.secret, grandchild.body.secret]) {
      const r = await rest(base, "GET", "/api/keys", undefined, { token: secret });
      expect(r.status).toBe(401);
    }
    expect((await rest(base, "GET", "/api/keys", undefined, { token: other.secret })).status).toBe(200);
    const audit = await rest(base, "GET", "/api/audit?action=token.revoked", undefined, a);
    expect(audit.body.events[0].details).toMatchObject({ descendants_revoked: "2" });
  });

  it("a token cannot mint one broader than itself: scopes, providers, expiry", async () => {
    const a = await signUp(base);
    const limited = await createToken(base, a, ["keys:read", "tokens:write"], ["openai"]);
    expect((await mint(limited.secret, { scopes: ["keys:write"], providers: ["openai"] })).status).toBe(403);
    expect((await mint(limited.secret, { scopes: ["keys:read"], providers: [] })).status).toBe(403);
    expect((await mint(limited.secret, { scopes: ["keys:read"], providers: ["openai", "groq"] })).status).toBe(403);
    const short = await rest(
      base,
      "POST",
      "/api/tokens",
      { name: "short", scopes: ["tokens:write"], providers: ["openai"], expiresInDays: 2 },
      a,
    );
    const longer = await mint(short.body.secret, {
      scopes: ["tokens:write"],
      providers: ["openai"],
      expiresInDays: 300,
    });
    expect(longer.status).toBe(201);
    expect(Date.parse(longer.body.token.expiresAt)).toBeLessThanOrEqual(Date.parse(short.body.token.expiresAt));
  });

  it("a provider-limited token lists and revokes only tokens within its limits", async () => {
    const a = await signUp(base);
    const openai = await createToken(base, a, ["keys:read", "tokens:write"], ["openai"]);
    const all = await createToken(base, a, ["keys:read", "tokens:write"]);
    const groq = await createToken(base, a, ["keys:read"], ["groq"]);
    const wider = await createToken(base, a, ["keys:read"], ["openai", "groq"]);
    const narrow = await createToken(base, a, ["keys:read"], ["openai"]);
    const listed = await rest(base, "GET", "/api/tokens", undefined, { token: openai.secret });
    expect(listed.status).toBe(200);
    expect(new Set(listed.body.tokens.map((t: { id: string }) => t.id))).toEqual(new Set([openai.id, narrow.id]));
    for (const outside of [all, groq, wider]) {
      expect(
        (await rest(base, "DELETE", `/api/tokens/${outside.id}`, undefined, { token: openai.secret })).status,
      ).toBe(404);
      expect((await rest(base, "GET", "/api/keys", undefined, { token: outside.secret })).status).toBe(200);
    }
    expect((await rest(base, "DELETE", `/api/tokens/${narrow.id}`, undefined, { token: openai.secret })).status).toBe(
      200,
    );
    // The session sees everything.
    const bySession = await rest(base, "GET", "/api/tokens", undefined, a);
    expect(bySession.body.tokens).toHaveLength(4);
  });
});

async function signInAs(email: string, userAgent: string) {
  const r = await fetch(`${base}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": userAgent },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  expect(r.status).toBe(200);
  return { cookie: r.headers.get("set-cookie")!.split(";")[0]! };
}

const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
const SAFARI =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";

describe("sessions a person can manage", () => {
  it("lists sessions with device, address, last seen and the current one marked; ends one", async () => {
    const a = await signUp(base);
    const laptop = await signInAs(a.email, FIREFOX);
    const phone = await signInAs(a.email, SAFARI);
    const list = await rest(base, "GET", "/api/auth/sessions", undefined, laptop);
    expect(list.status).toBe(200);
    expect(list.body.sessions).toHaveLength(3);
    const current = list.body.sessions.filter((s: { current: boolean }) => s.current);
    expect(current).toHaveLength(1);
    expect(current[0]).toMatchObject({ device: "Firefox on Linux", address: "127.0.0.1" });
    expect(current[0].lastSeenAt).toBeTruthy();
    const phoneSession = list.body.sessions.find((s: { device: string }) => s.device === "Safari on iOS");
    expect(phoneSession).toBeTruthy();
    expect(JSON.stringify(list.body)).not.toContain(phone.cookie.split("=")[1]);

    expect((await rest(base, "DELETE", `/api/auth/sessions/${phoneSession.id}`, undefined, laptop)).status).toBe(200);
    expect((await rest(base, "GET", "/api/auth/me", undefined, phone)).status).toBe(401);
    expect((await rest(base, "GET", "/api/auth/me", undefined, laptop)).status).toBe(200);
    // Another user's session id is not_found, and the session goes on.
    const b = await signUp(base);
    const bList = await rest(base, "GET", "/api/auth/sessions", undefined, b);
    expect((await rest(base, "DELETE", `/api/auth/sessions/${bList.body.sessions[0].id}`, undefined, a)).status).toBe(
      404,
    );
    expect((await rest(base, "GET", "/api/auth/me", undefined, b)).status).toBe(200);
    // Tokens cannot manage sessions.
    const t = await createToken(base, a);
    expect((await rest(base, "GET", "/api/auth/sessions", undefined, { token: t.secret })).status).toBe(403);
  });

  it("ends all other sessions, over Connect too, audited", async () => {
    const a = await signUp(base);
    const one = await signInAs(a.email, FIREFOX);
    const two = await signInAs(a.email, SAFARI);
    const client = connectClient(base, one);
    const res = await client.revokeOtherSessions({});
    expect(res.revoked).toBe(2);
    expect((await rest(base, "GET", "/api/auth/me", undefined, two)).status).toBe(401);
    expect((await rest(base, "GET", "/api/auth/me", undefined, a)).status).toBe(401);
    expect((await client.listSessions({})).sessions.map((s) => s.current)).toEqual([true]);
    const audit = await rest(base, "GET", "/api/audit?action=session.others_revoked", undefined, one);
    expect(audit.body.events[0].details).toMatchObject({ sessions_ended: "2" });
  });

  it("changes the password with the current one, ending the other sessions", async () => {
    const a = await signUp(base);
    const other = await signInAs(a.email, SAFARI);
    const wrong = await rest(
      base,
      "POST",
      "/api/auth/password",
      { currentPassword: "not the password", newPassword: "a brand new password" },
      a,
    );
    expect(wrong.status).toBe(401);
    const short = await rest(
      base,
      "POST",
      "/api/auth/password",
      { currentPassword: PASSWORD, newPassword: "short" },
      a,
    );
    expect(short.status).toBe(400);
    const ok = await rest(
      base,
      "POST",
      "/api/auth/password",
      { currentPassword: PASSWORD, newPassword: "a brand new password" },
      a,
    );
    expect(ok.status).toBe(200);
    expect(ok.body.sessionsEnded).toBe(1);
    expect((await rest(base, "GET", "/api/auth/me", undefined, other)).status).toBe(401);
    expect((await rest(base, "GET", "/api/auth/me", undefined, a)).status).toBe(200);
    const oldPw = await rest(base, "POST", "/api/auth/login", { email: a.email, password: PASSWORD });
    expect(oldPw.status).toBe(401);
    const newPw = await rest(base, "POST", "/api/auth/login", { email: a.email, password: "a brand new password" });
    expect(newPw.status).toBe(200);
    const audit = await rest(base, "GET", "/api/audit?action=auth.password_changed", undefined, a);
    expect(audit.body.events).toHaveLength(1);
    const refused = await rest(base, "GET", "/api/audit?action=auth.password_change_refused", undefined, a);
    expect(refused.body.events).toHaveLength(1);
    expect(audit.text).not.toContain("a brand new password");
  });
});
