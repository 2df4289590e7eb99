// The Connect edge end to end: every WalletService method over the Connect protocol
// (JSON and binary), gRPC-Web, and gRPC on the HTTP/2 listener, with the same rules as REST.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { WalletService } from "@cv-wallet/proto/wallet/v1";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Account,
  connectClient,
  createKey,
  createToken,
  expectNoSecretsInLogs,
  PASSWORD,
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

const ZERO_ID = "000000000000000000000000";

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };

async function codeOf(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

describe("WalletService over Connect", () => {
  let a: Account;
  let token: string;
  let keyId: string;
  let keyValue: string;
  beforeAll(async () => {
    a = await signUp(base);
    token = (await createToken(base, a)).secret;
    const k = await createKey(base, { token }, { provider: "openai", name: "work" });
    keyId = k.id;
    keyValue = k.key;
  });

  it("signs up and in, setting the session cookie; the cookie then authenticates Connect calls", async () => {
    let setCookie = "";
    const anon = connectClient(base, { origin: base });
    const email = `connect-${Date.now()}@example.com`;
    const up = await anon.signUp(
      { email, password: PASSWORD },
      { onHeader: (h) => (setCookie = h.get("set-cookie") ?? "") },
    );
    expect(up.user?.email).toBe(email);
    expect(setCookie).toMatch(/^cvw_session=[\w-]+; Path=\/; HttpOnly; SameSite=Lax/);
    const session = connectClient(base, { cookie: setCookie.split(";")[0]! });
    const me = await session.getCurrentUser({});
    expect(me).toMatchObject({ authMethod: "session", user: { email } });
    const inAgain = await anon.signIn({ email, password: PASSWORD });
    expect(inAgain.user?.email).toBe(email);
    expect(await codeOf(anon.signIn({ email, password: "wrong password" }))).toBe(Code.Unauthenticated);
    // A cookie-authenticated call from another origin is refused (CSRF).
    const crossSite = connectClient(base, { cookie: setCookie.split(";")[0]!, origin: "https://evil.example" });
    expect(await codeOf(crossSite.listTokens({}))).toBe(Code.PermissionDenied);
    expect(await codeOf(session.signOut({}))).toBe("ok");
    expect(await codeOf(session.getCurrentUser({}))).toBe(Code.Unauthenticated);
  });

  it("runs every key and token method with a bearer token", async () => {
    const c = connectClient(base, { token });
    expect((await c.listProviders({})).providers).toHaveLength(9);
    const created = await c.createKey({ provider: "anthropic", name: "rpc", key: "sk-ant-rpc-0123456789" });
    expect(created.key).toMatchObject({ provider: "anthropic", maskedKey: "••••6789", isDefault: true });
    const id = created.key!.id;
    expect((await c.getKey({ id })).key?.name).toBe("rpc");
    expect((await c.listKeys({ provider: "anthropic" })).keys.map((k) => k.id)).toEqual([id]);
    const updated = await c.updateKey({ id, name: "rpc2" });
    expect(updated.key?.name).toBe("rpc2");
    expect((await c.getProviderKey({ provider: "anthropic" })).key).toBe("sk-ant-rpc-0123456789");
    expect((await c.revealKey({ id })).key).toBe("sk-ant-rpc-0123456789");
    // Usage is the tool's retrieval; the reveal is counted apart.
    const after = (await c.getKey({ id })).key;
    expect([after?.usageCount, after?.retrievals, after?.revealCount]).toEqual([1n, 1, 1]);
    const usage = await c.getKeyUsage({ id, days: 2 });
    expect(usage.days.map((d) => [d.retrievals, d.reveals])).toEqual([
      [0, 0],
      [1, 1],
    ]);
    expect(usage.days[1]?.tokens.map((t) => [t.tokenName.startsWith("t"), t.retrievals])).toEqual([[true, 1]]);
    const validated = await c.validateKey({ id });
    expect(validated.key?.validation?.status).toBeDefined();
    const events = await c.listAuditEvents({ action: "key.revealed" });
    expect(events.events[0]?.target?.id).toBe(id);
    const t = await c.createToken({ name: "child", scopes: ["keys:read"] });
    expect(t.secret).toMatch(/^cvw_/);
    expect((await c.listTokens({})).tokens.map((x) => x.id)).toContain(t.token!.id);
    await c.revokeToken({ id: t.token!.id });
    expect(await codeOf(connectClient(base, { token: t.secret }).listKeys({}))).toBe(Code.Unauthenticated);
    await c.deleteKey({ id });
    expect(await codeOf(c.getKey({ id }))).toBe(Code.NotFound);
  });

  it("answers unauthenticated for every method that needs a caller", async () => {
    const anon = connectClient(base);
    const calls: [string, () => Promise<unknown>][] = [
      ["signOut", () => anon.signOut({})],
      ["getCurrentUser", () => anon.getCurrentUser({})],
      ["deleteAccount", () => anon.deleteAccount({ password: PASSWORD })],
      ["listKeys", () => anon.listKeys({})],
      ["createKey", () => anon.createKey({ provider: "openai", name: "x", key: "sk-proj-0123456789" })],
      ["getKey", () => anon.getKey({ id: ZERO_ID })],
      ["updateKey", () => anon.updateKey({ id: ZERO_ID })],
      ["deleteKey", () => anon.deleteKey({ id: ZERO_ID })],
      ["getProviderKey", () => anon.getProviderKey({ provider: "openai" })],
      ["revealKey", () => anon.revealKey({ id: ZERO_ID })],
      ["validateKey", () => anon.validateKey({ id: ZERO_ID })],
      ["getKeyUsage", () => anon.getKeyUsage({ id: ZERO_ID })],
      ["createToken", () => anon.createToken({ name: "x", scopes: ["keys:read"] })],
      ["listTokens", () => anon.listTokens({})],
      ["revokeToken", () => anon.revokeToken({ id: ZERO_ID })],
      ["listAuditEvents", () => anon.listAuditEvents({})],
    ];
    for (const [name, call] of calls) expect([name, await codeOf(call())]).toEqual([name, Code.Unauthenticated]);
    const expired = connectClient(base, { token: `cvw_${"0".repeat(36)}` });
    expect(await codeOf(expired.listKeys({}))).toBe(Code.Unauthenticated);
  });

  it("answers not_found for another user's records (BOLA)", async () => {
    const b = await signUp(base);
    const bToken = (await createToken(base, b)).secret;
    for (const c of [connectClient(base, { token: bToken }), connectClient(base, { cookie: b.cookie })]) {
      const calls: [string, () => Promise<unknown>][] = [
        ["getKey", () => c.getKey({ id: keyId })],
        ["updateKey", () => c.updateKey({ id: keyId, name: "stolen" })],
        ["deleteKey", () => c.deleteKey({ id: keyId })],
        ["revealKey", () => c.revealKey({ id: keyId })],
        ["validateKey", () => c.validateKey({ id: keyId })],
        ["getKeyUsage", () => c.getKeyUsage({ id: keyId })],
        ["getProviderKey", () => c.getProviderKey({ provider: "openai" })],
      ];
      for (const [name, call] of calls) expect([name, await codeOf(call())]).toEqual([name, Code.NotFound]);
      expect((await c.listKeys({})).keys).toEqual([]);
    }
    expect((await connectClient(base, { token }).getProviderKey({ provider: "openai" })).key).toBe(keyValue);
  });

  it("answers permission_denied for a missing scope or provider, and session-only methods", async () => {
    const readOnly = connectClient(base, { token: (await createToken(base, a, ["keys:read"])).secret });
    expect(await codeOf(readOnly.createKey({ provider: "groq", name: "g", key: "gsk_0123456789" }))).toBe(
      Code.PermissionDenied,
    );
    expect(await codeOf(readOnly.updateKey({ id: keyId, name: "x" }))).toBe(Code.PermissionDenied);
    expect(await codeOf(readOnly.deleteKey({ id: keyId }))).toBe(Code.PermissionDenied);
    expect(await codeOf(readOnly.validateKey({ id: keyId }))).toBe(Code.PermissionDenied);
    expect(await codeOf(readOnly.createToken({ name: "x", scopes: ["keys:read"] }))).toBe(Code.PermissionDenied);
    expect(await codeOf(readOnly.listTokens({}))).toBe(Code.PermissionDenied);
    expect(await codeOf(readOnly.revokeToken({ id: ZERO_ID }))).toBe(Code.PermissionDenied);
    expect(await codeOf(readOnly.signOut({}))).toBe(Code.PermissionDenied);
    expect(await codeOf(readOnly.deleteAccount({ password: PASSWORD }))).toBe(Code.PermissionDenied);
    const groqOnly = connectClient(base, { token: (await createToken(base, a, ["keys:read"], ["groq"])).secret });
    expect(await codeOf(groqOnly.getProviderKey({ provider: "openai" }))).toBe(Code.PermissionDenied);
    expect(await codeOf(groqOnly.getKey({ id: keyId }))).toBe(Code.NotFound);
  });

  it("validates requests with the protovalidate rules, naming the field", async () => {
    const c = connectClient(base, { token });
    const cases: [string, () => Promise<unknown>][] = [
      ["unknown provider", () => c.getProviderKey({ provider: "acme" })],
      ["oversize key", () => c.createKey({ provider: "openai", name: "x", key: "k".repeat(4097) })],
      ["key with spaces", () => c.createKey({ provider: "openai", name: "x", key: "has a space" })],
      ["empty name", () => c.createKey({ provider: "openai", name: "", key: "sk-proj-0123456789" })],
      ["malformed id", () => c.getKey({ id: "not-an-id" })],
      ["empty id", () => c.getKey({ id: "" })],
      ["bad scope", () => c.createToken({ name: "x", scopes: ["admin"] })],
      ["page too big", () => c.listKeys({ pageSize: 501 })],
      ["bad email", () => c.signUp({ email: "not-an-email", password: PASSWORD })],
    ];
    for (const [name, call] of cases) expect([name, await codeOf(call())]).toEqual([name, Code.InvalidArgument]);
    // A message over the body limit is refused before it is decoded.
    expect(await codeOf(c.createKey({ provider: "openai", name: "x", key: "k".repeat(70_000) }))).toBe(
      Code.ResourceExhausted,
    );
    const error = await c.createKey({ provider: "openai", name: "x", key: "SECRET VALUE" }).catch((e) => e);
    expect(ConnectError.from(error).message).toMatch(/key/);
    expect(ConnectError.from(error).message).not.toContain("SECRET VALUE");
  });

  it("answers RPCs with the security headers and no caching", async () => {
    const res = await fetch(`${base}/cvwallet.wallet.v1.WalletService/GetProviderKey`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ provider: "openai" }),
    });
    expect(await res.json()).toEqual({ key: keyValue });
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  it("speaks the binary Connect protocol and gRPC-Web on the same port", async () => {
    const binary = connectClient(base, { token }, true);
    expect((await binary.getProviderKey({ provider: "openai" })).key).toBe(keyValue);
    const grpcWeb = createClient(
      WalletService,
      createGrpcWebTransport({
        baseUrl: base,
        httpVersion: "1.1",
        interceptors: [bearer(token)],
      }),
    );
    expect((await grpcWeb.getProviderKey({ provider: "openai" })).key).toBe(keyValue);
    expect(await codeOf(grpcWeb.getKey({ id: ZERO_ID }))).toBe(Code.NotFound);
  });

  it("speaks gRPC on the HTTP/2 listener when WALLET_GRPC_ADDR is set", async () => {
    const wallet = await stack.startAnotherWallet({ grpcAddr: "127.0.0.1:0" });
    expect(wallet.grpcAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    const grpc = createClient(
      WalletService,
      createGrpcTransport({
        baseUrl: `http://${wallet.grpcAddress}`,
        interceptors: [bearer(token)],
      }),
    );
    expect((await grpc.getProviderKey({ provider: "openai" })).key).toBe(keyValue);
    expect(await codeOf(grpc.getKey({ id: ZERO_ID }))).toBe(Code.NotFound);
    expect(
      await codeOf(
        createClient(WalletService, createGrpcTransport({ baseUrl: `http://${wallet.grpcAddress}` })).listKeys({}),
      ),
    ).toBe(Code.Unauthenticated);
  });

  it("deletes the account over Connect with the session and its password", async () => {
    const b = await signUp(base);
    const c = connectClient(base, { cookie: b.cookie });
    await createKey(base, { cookie: b.cookie });
    expect(await codeOf(c.deleteAccount({ password: "wrong password" }))).toBe(Code.Unauthenticated);
    await c.deleteAccount({ password: PASSWORD });
    expect(await codeOf(c.getCurrentUser({}))).toBe(Code.Unauthenticated);
  });
});
