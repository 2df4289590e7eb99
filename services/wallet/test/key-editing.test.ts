// Saving and editing keys as the web UI does, over REST and Connect: pasted whitespace is
// trimmed, a custom base URL is judged by its form when saved, one failure gets one status,
// a metadata edit does not re-check, a key can move to another provider, and the audit log
// can be read for a time range.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Account,
  connectClient,
  createKey,
  createToken,
  expectNoSecretsInLogs,
  rest,
  type Stack,
  signUp,
  startStack,
} from "./stack.ts";

let stack: Stack;
let base: string;

beforeAll(async () => {
  // Port 9 (discard) on loopback: nothing listens, so every OpenAI check is "unreachable".
  stack = await startStack({ providers: { baseUrlOverrides: { openai: "http://127.0.0.1:9" } } });
  base = stack.url;
});
afterAll(async () => {
  if (stack) expectNoSecretsInLogs(stack);
  await stack?.stop();
});

const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return "ok";
  } catch (error) {
    return error instanceof ConnectError ? error.code : "other";
  }
};

describe("pasted keys", () => {
  it("trims spaces, tabs and line breaks around a key on create and update; refuses them inside", async () => {
    const a = await signUp(base);
    const created = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "groq", name: "pasted", key: " \tgsk_pasted0123456789\r\n" },
      a,
    );
    expect(created.status).toBe(201);
    expect(created.body.key.last4).toBe("6789");
    const id = created.body.key.id as string;
    expect((await rest(base, "POST", `/api/keys/${id}/reveal`, undefined, a)).body.key).toBe("gsk_pasted0123456789");
    const updated = await rest(base, "PATCH", `/api/keys/${id}`, { key: "gsk_replaced012345678\n" }, a);
    expect([updated.status, updated.body.key.last4]).toEqual([200, "5678"]);
    expect((await rest(base, "POST", `/api/keys/${id}/reveal`, undefined, a)).body.key).toBe("gsk_replaced012345678");

    for (const key of ["gsk_in side0123456789", "  short\n", "\n\n\n\n\n\n\n\n\n"]) {
      const r = await rest(base, "POST", "/api/keys", { provider: "groq", name: "bad", key }, a);
      expect([r.status, r.body.error.code]).toEqual([400, "invalid_argument"]);
      expect(r.body.error.message).toMatch(/^key: /);
    }

    const c = connectClient(base, { token: (await createToken(base, a)).secret });
    const viaRpc = await c.createKey({ provider: "mistral", name: "rpc-pasted", key: "  mistral-pasted-0123456789\n" });
    expect(viaRpc.key?.last4).toBe("6789");
    expect((await c.revealKey({ id: viaRpc.key!.id })).key).toBe("mistral-pasted-0123456789");
    await c.updateKey({ id: viaRpc.key!.id, key: "\tmistral-again-0123456789 " });
    expect((await c.revealKey({ id: viaRpc.key!.id })).key).toBe("mistral-again-0123456789");
    expect(await codeOf(c.createKey({ provider: "mistral", name: "x", key: " abc \n" }))).toBe(Code.InvalidArgument);
  });
});

describe("custom base URLs", () => {
  it("are checked for their form when saved, not resolved; the refusal of http://localhost names the setting", async () => {
    const a = await signUp(base);
    // A name that does not resolve is saved: its addresses are checked when a request is made.
    const saved = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "custom", name: "later", key: "custom-key-0123", baseUrl: "https://llm.does-not-exist.invalid/v1" },
      a,
    );
    expect(saved.status).toBe(201);
    expect(saved.body.key.baseUrl).toBe("https://llm.does-not-exist.invalid/v1");
    // Checked now, a host that cannot be reached is unreachable (not refused, not unverified).
    const checked = await rest(base, "POST", `/api/keys/${saved.body.key.id}/validate`, undefined, a);
    expect(checked.body.key.validation.status).toBe("unreachable");

    const local = await rest(
      base,
      "POST",
      "/api/keys",
      { provider: "custom", name: "ollama", key: "ollama-0123", baseUrl: "http://localhost:1234/v1" },
      a,
    );
    expect([local.status, local.body.error.code]).toEqual([400, "invalid_argument"]);
    expect(local.body.error.message).toMatch(/^base_url: .*WALLET_ALLOW_PRIVATE_BASE_URLS/);
    for (const baseUrl of ["https://user:pw@llm.example/v1", "https://169.254.169.254/", "ftp://llm.example/"]) {
      const r = await rest(
        base,
        "POST",
        "/api/keys",
        { provider: "custom", name: "bad", key: "k-0123456789", baseUrl },
        a,
      );
      expect([baseUrl, r.status]).toEqual([baseUrl, 400]);
      expect(r.body.error.message).toMatch(/^base_url: /);
      expect(r.body.error.message).not.toContain("pw");
    }
    const c = connectClient(base, { token: (await createToken(base, a)).secret });
    const rpc = await c
      .createKey({ provider: "custom", name: "rpc-local", key: "ollama-0123", baseUrl: "http://127.0.0.1:11434/v1" })
      .catch((e: unknown) => e as ConnectError);
    expect(rpc).toBeInstanceOf(ConnectError);
    expect((rpc as ConnectError).code).toBe(Code.InvalidArgument);
    expect((rpc as ConnectError).rawMessage).toMatch(/^base_url: .*WALLET_ALLOW_PRIVATE_BASE_URLS/);
  });

  it("with WALLET_ALLOW_PRIVATE_BASE_URLS, http://localhost is saved", async () => {
    const open = await stack.startAnotherWallet({
      providers: { baseUrlOverrides: {}, allowPrivateBaseUrls: true },
    });
    const a = await signUp(open.url);
    const r = await rest(
      open.url,
      "POST",
      "/api/keys",
      { provider: "custom", name: "ollama", key: "ollama-0123", baseUrl: "http://localhost:1234/v1" },
      a,
    );
    expect([r.status, r.body.key?.baseUrl]).toEqual([201, "http://localhost:1234/v1"]);
  });
});

describe("one failure, one status", () => {
  it("an unreachable host is unreachable on save and on Check now; a metadata edit does not re-check", async () => {
    const a = await signUp(base);
    const k = await createKey(base, a, { validate: true });
    expect(k.body.key.validation.status).toBe("unreachable");
    const checkedAt = k.body.key.validation.checkedAt as string;
    const now = await rest(base, "POST", `/api/keys/${k.id}/validate`, undefined, a);
    expect(now.body.key.validation.status).toBe("unreachable");
    const checks = async () =>
      (await rest(base, "GET", "/api/audit?action=key.validated", undefined, a)).body.events.length as number;
    const before = await checks();
    const edited = await rest(
      base,
      "PATCH",
      `/api/keys/${k.id}`,
      { name: "renamed", expiresAt: "2030-01-01T00:00:00Z", isDefault: true, validate: true },
      a,
    );
    expect(edited.status).toBe(200);
    expect(edited.body.key.validation.status).toBe("unreachable");
    expect(edited.body.key.validation.checkedAt).toBe(now.body.key.validation.checkedAt);
    expect(await checks()).toBe(before);
    expect(checkedAt).toBeTruthy();
    // A new secret is checked again (and stays unreachable, the same failure).
    const rekeyed = await rest(
      base,
      "PATCH",
      `/api/keys/${k.id}`,
      { key: "sk-proj-rekeyed-0123456789", validate: true },
      a,
    );
    expect(rekeyed.body.key.validation.status).toBe("unreachable");
    expect(await checks()).toBe(before + 1);
  });
});

describe("moving a key to another provider", () => {
  let a: Account;
  beforeAll(async () => {
    a = await signUp(base);
  });

  it("moves a mis-filed key, carries the mismatch hint until then, and audits the move", async () => {
    const k = await createKey(base, a, { provider: "openai", name: "claude", key: "sk-ant-misfiled-0123456789" });
    expect(k.body.key).toMatchObject({ provider: "openai", prefixProvider: "anthropic", isDefault: true });
    expect(k.body.warnings).toHaveLength(1);
    const listed = (await rest(base, "GET", "/api/keys", undefined, a)).body.keys;
    expect(listed.find((x: { id: string }) => x.id === k.id).prefixProvider).toBe("anthropic");

    const moved = await rest(base, "PATCH", `/api/keys/${k.id}`, { provider: "anthropic" }, a);
    expect(moved.status).toBe(200);
    expect(moved.body.key).toMatchObject({
      provider: "anthropic",
      prefixProvider: "",
      // anthropic had no default, so the key stays a default there.
      isDefault: true,
      validation: { status: "unverified" },
    });
    expect(moved.body.warnings).toEqual([]);
    expect((await rest(base, "GET", "/api/keys/provider/anthropic", undefined, a)).body.key).toBe(
      "sk-ant-misfiled-0123456789",
    );
    // The old provider has no key left; nothing was promoted.
    expect((await rest(base, "GET", "/api/keys/provider/openai", undefined, a)).status).toBe(404);
    const audit = (await rest(base, "GET", "/api/audit?action=key.updated", undefined, a)).body.events[0];
    expect(audit).toMatchObject({
      target: { id: k.id },
      details: { provider: "anthropic", previousProvider: "openai", fields: "provider" },
    });
    expect(JSON.stringify(audit)).not.toContain("misfiled");
  });

  it("keeps default rules on both sides, refuses a (provider, name) clash, warns on a new mismatch", async () => {
    const g1 = await createKey(base, a, { provider: "groq", name: "g1", key: "gsk_first-0123456789" });
    const g2 = await createKey(base, a, { provider: "groq", name: "g2", key: "gsk_second-0123456789" });
    const t1 = await createKey(base, a, { provider: "together", name: "g1", key: "tgp_v1_0123456789" });
    expect([g1.body.key.isDefault, g2.body.key.isDefault, t1.body.key.isDefault]).toEqual([true, false, true]);

    const clash = await rest(base, "PATCH", `/api/keys/${g1.id}`, { provider: "together" }, a);
    expect([clash.status, clash.body.error.code]).toEqual([409, "already_exists"]);
    expect((await rest(base, "GET", `/api/keys/${g1.id}`, undefined, a)).body.key.provider).toBe("groq");

    // The groq default moves to together, which has a default: it arrives as a non-default, and
    // groq is left without one (its newest key answers retrievals by provider).
    const moved = await rest(base, "PATCH", `/api/keys/${g1.id}`, { provider: "together", name: "from-groq" }, a);
    expect(moved.body.key).toMatchObject({ provider: "together", isDefault: false, prefixProvider: "groq" });
    expect(moved.body.warnings[0]).toMatch(/Groq/);
    expect((await rest(base, "GET", `/api/keys/${g2.id}`, undefined, a)).body.key.isDefault).toBe(false);
    expect((await rest(base, "GET", "/api/keys/provider/groq", undefined, a)).body.key).toBe("gsk_second-0123456789");
    // Asked to, a moved key becomes the new provider's default and the old default steps down.
    const back = await rest(base, "PATCH", `/api/keys/${g2.id}`, { provider: "together", isDefault: true }, a);
    expect(back.body.key).toMatchObject({ provider: "together", isDefault: true });
    expect((await rest(base, "GET", `/api/keys/${t1.id}`, undefined, a)).body.key.isDefault).toBe(false);

    // To custom needs a base URL; away from custom drops it.
    const noUrl = await rest(base, "PATCH", `/api/keys/${t1.id}`, { provider: "custom" }, a);
    expect([noUrl.status, noUrl.body.error.message]).toEqual([400, expect.stringMatching(/^base_url: /)]);
    const custom = await rest(
      base,
      "PATCH",
      `/api/keys/${t1.id}`,
      { provider: "custom", baseUrl: "https://llm.example.com/v1" },
      a,
    );
    expect(custom.body.key).toMatchObject({
      provider: "custom",
      baseUrl: "https://llm.example.com/v1",
      prefixProvider: "",
    });
    const away = await rest(base, "PATCH", `/api/keys/${t1.id}`, { provider: "mistral" }, a);
    expect(away.body.key).toMatchObject({ provider: "mistral", baseUrl: "", prefixProvider: "together" });
    const unknown = await rest(base, "PATCH", `/api/keys/${t1.id}`, { provider: "nope" }, a);
    expect(unknown.status).toBe(400);
  });

  it("over Connect, and a token limited to some providers cannot move a key out of them", async () => {
    const k = await createKey(base, a, { provider: "google", name: "gem", key: "sk-or-v1-misfiled0123456789" });
    const c = connectClient(base, { token: (await createToken(base, a)).secret });
    const moved = await c.updateKey({ id: k.id, provider: "openrouter" });
    expect(moved.key).toMatchObject({ provider: "openrouter", prefixProvider: "" });
    const limited = connectClient(base, {
      token: (await createToken(base, a, ["keys:read", "keys:write"], ["openrouter"])).secret,
    });
    expect(await codeOf(limited.updateKey({ id: k.id, provider: "google" }))).toBe(Code.PermissionDenied);
    expect((await c.getKey({ id: k.id })).key?.provider).toBe("openrouter");
  });
});

describe("audit log time range", () => {
  it("lists only events in [start_time, end_time), over REST and Connect", async () => {
    const a = await signUp(base);
    await createKey(base, a);
    const all = (await rest(base, "GET", "/api/audit", undefined, a)).body.events as { time: string }[];
    expect(all.length).toBeGreaterThanOrEqual(2);
    const newest = all[0]!.time;
    const only = await rest(base, "GET", `/api/audit?start_time=${encodeURIComponent(newest)}`, undefined, a);
    expect(only.status).toBe(200);
    expect(only.body.events.every((e: { time: string }) => Date.parse(e.time) >= Date.parse(newest))).toBe(true);
    const before = await rest(base, "GET", `/api/audit?endTime=${encodeURIComponent(newest)}`, undefined, a);
    expect(before.body.events.every((e: { time: string }) => Date.parse(e.time) < Date.parse(newest))).toBe(true);
    expect(only.body.events.length + before.body.events.length).toBe(all.length);
    const bad = await rest(base, "GET", "/api/audit?start_time=yesterday", undefined, a);
    expect([bad.status, bad.body.error.message]).toEqual([400, expect.stringMatching(/start_time/)]);
    const reversed = await rest(
      base,
      "GET",
      `/api/audit?start_time=${encodeURIComponent(newest)}&end_time=2000-01-01T00:00:00Z`,
      undefined,
      a,
    );
    expect([reversed.status, reversed.body.error.message]).toEqual([400, expect.stringMatching(/^end_time: /)]);

    const c = connectClient(base, { token: (await createToken(base, a)).secret });
    const future = await c.listAuditEvents({ startTime: { seconds: BigInt(Math.floor(Date.now() / 1000) + 3600) } });
    expect(future.events).toEqual([]);
    const past = await c.listAuditEvents({ endTime: { seconds: BigInt(Math.floor(Date.now() / 1000) + 3600) } });
    expect(past.events.length).toBeGreaterThanOrEqual(all.length);
  });
});
