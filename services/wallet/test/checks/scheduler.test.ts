// The validation scheduler over real loopback provider servers and an in-memory key list
// standing in for the wallet's store (the wallet engineer's callbacks do store + decrypt + audit).
import { randomBytes } from "node:crypto";
import { type CapturedLogs, captureLogs } from "@cv-wallet/common/testing/logs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CheckResult, createKeyChecker, type KeyChecker } from "../../src/checks/checker.ts";
import { type DueKey, startValidationScheduler, type ValidationScheduler } from "../../src/checks/scheduler.ts";
import { type FakeServer, type Reply, send, startServer } from "./fake-provider.ts";

interface StoredKey extends DueKey {
  key: string;
  validation?: CheckResult;
  checks: number;
}

interface CountingServer extends FakeServer {
  inFlight: number;
  maxInFlight: number;
  reply: Reply | "hang";
}

/** A provider that answers (after `delayMs`) any request carrying an Authorization or x-api-key header. */
async function countingProvider(delayMs: number): Promise<CountingServer> {
  let self: CountingServer | undefined;
  const server = await startServer((req, res) => {
    const s = self!;
    s.inFlight++;
    s.maxInFlight = Math.max(s.maxInFlight, s.inFlight);
    if (s.reply === "hang") return;
    const reply = s.reply;
    setTimeout(() => {
      s.inFlight--;
      if (!req.headers.authorization && !req.headers["x-api-key"]) return send(res, { status: 401, body: {} });
      send(res, reply);
    }, delayMs);
  });
  self = Object.assign(server, {
    inFlight: 0,
    maxInFlight: 0,
    reply: { status: 200, body: { object: "list", data: [] } } as Reply | "hang",
  });
  return self;
}

const newKey = (prefix: string) => `${prefix}${randomBytes(24).toString("base64url")}`;

function store(specs: { provider: string; prefix: string; count: number }[]): StoredKey[] {
  let n = 0;
  return specs.flatMap(({ provider, prefix, count }) =>
    Array.from({ length: count }, () => ({
      id: `k${++n}`,
      ownerId: `u${n % 3}`,
      provider,
      key: newKey(prefix),
      checks: 0,
    })),
  );
}

function callbacks(keys: StoredKey[], checker: KeyChecker) {
  return {
    listDue: async (olderThan: Date, limit: number) =>
      keys.filter((k) => !k.validation || k.validation.checkedAt < olderThan).slice(0, limit),
    runCheck: async (k: StoredKey) => {
      const result = await checker.check(k.provider, k.key);
      k.validation = result;
      k.checks++;
      return result;
    },
  };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("validation scheduler", () => {
  let logs: CapturedLogs;
  let servers: CountingServer[];
  let scheduler: ValidationScheduler | undefined;
  let keys: StoredKey[];

  beforeEach(() => {
    logs = captureLogs("wallet");
    servers = [];
    keys = [];
    scheduler = undefined;
  });
  afterEach(async () => {
    await scheduler?.stop();
    await Promise.all(servers.map((s) => s.close()));
    const text = logs.text();
    for (const k of keys) expect(text).not.toContain(k.key);
  });

  async function providers(n: number, delayMs: number) {
    for (let i = 0; i < n; i++) servers.push(await countingProvider(delayMs));
    return servers;
  }

  const checkerFor = (overrides: Record<string, string>, timeoutMs = 2000) =>
    createKeyChecker({ baseUrlOverrides: overrides, allowPrivateBaseUrls: false, timeoutMs, logger: logs.logger });

  it("re-checks keys across providers on a short interval with bounded concurrency per provider", async () => {
    const [openai, anthropic, groq] = await providers(3, 30);
    keys = store([
      { provider: "openai", prefix: "sk-proj-", count: 6 },
      { provider: "anthropic", prefix: "sk-ant-api03-", count: 6 },
      { provider: "groq", prefix: "gsk_", count: 6 },
    ]);
    const checker = checkerFor({ openai: openai!.url, anthropic: anthropic!.url, groq: groq!.url });
    scheduler = startValidationScheduler({
      intervalMs: 150,
      jitterRatio: 0.2,
      concurrencyPerProvider: 2,
      runImmediately: true,
      logger: logs.logger,
      ...callbacks(keys, checker),
    });
    await until(() => keys.every((k) => k.checks >= 2));
    await scheduler.stop();
    for (const s of [openai!, anthropic!, groq!]) {
      expect(s.maxInFlight).toBe(2);
      expect(s.requests.length).toBeGreaterThanOrEqual(12);
    }
    expect(keys.every((k) => k.validation?.status === "valid")).toBe(true);
  });

  it("a provider outage marks its keys unreachable, never invalid; other providers are unaffected", async () => {
    const [down, hanging, up] = await providers(3, 5);
    down!.reply = { status: 503, body: { error: { message: "overloaded" } } };
    hanging!.reply = "hang";
    keys = store([
      { provider: "mistral", prefix: "", count: 3 },
      { provider: "together", prefix: "tgp_v1_", count: 3 },
      { provider: "openai", prefix: "sk-proj-", count: 3 },
    ]);
    // Keys that were valid before the outage.
    for (const k of keys) k.validation = { status: "valid", detail: "earlier", checkedAt: new Date(0) };
    const checker = checkerFor({ mistral: down!.url, together: hanging!.url, openai: up!.url }, 200);
    scheduler = startValidationScheduler({
      intervalMs: 3_600_000,
      concurrencyPerProvider: 3,
      logger: logs.logger,
      ...callbacks(keys, checker),
    });
    const summary = await scheduler.runOnce();
    expect(summary).toMatchObject({ checked: 9, deferred: 0, failed: 0, byStatus: { unreachable: 6, valid: 3 } });
    for (const k of keys) {
      expect(k.validation!.status, k.provider).toBe(k.provider === "openai" ? "valid" : "unreachable");
    }
    expect(keys.find((k) => k.provider === "mistral")!.validation!.detail).toBe(`HTTP 503 from ${down!.host}`);
  });

  it("backs a provider off on 429 (respecting Retry-After) and keeps checking the others", async () => {
    const [limited, fine] = await providers(2, 5);
    limited!.reply = { status: 429, headers: { "retry-after": "120" }, body: { error: { message: "slow down" } } };
    keys = store([
      { provider: "openai", prefix: "sk-proj-", count: 5 },
      { provider: "cohere", prefix: "", count: 3 },
    ]);
    const checker = checkerFor({ openai: limited!.url, cohere: fine!.url });
    fine!.reply = { status: 200, body: { valid: true } };
    scheduler = startValidationScheduler({
      intervalMs: 3_600_000,
      concurrencyPerProvider: 1,
      logger: logs.logger,
      ...callbacks(keys, checker),
    });
    const before = Date.now();
    const first = await scheduler.runOnce();
    expect(limited!.requests).toHaveLength(1);
    expect(fine!.requests).toHaveLength(3);
    expect(first).toMatchObject({ checked: 4, deferred: 4, byStatus: { rate_limited: 1, valid: 3 } });
    const until = scheduler.backoffUntil("openai")!;
    expect(until).toBeGreaterThanOrEqual(before + 120_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 120_000);
    expect(scheduler.backoffUntil("cohere")).toBeUndefined();

    const second = await scheduler.runOnce();
    expect(limited!.requests).toHaveLength(1);
    expect(second).toMatchObject({ checked: 0, deferred: 4 });
  });

  it("backs off exponentially from one minute when a 429 has no Retry-After", async () => {
    const [limited] = await providers(1, 1);
    limited!.reply = { status: 429, body: {} };
    keys = store([{ provider: "groq", prefix: "gsk_", count: 2 }]);
    scheduler = startValidationScheduler({
      intervalMs: 3_600_000,
      concurrencyPerProvider: 1,
      logger: logs.logger,
      ...callbacks(keys, checkerFor({ groq: limited!.url })),
    });
    const before = Date.now();
    await scheduler.runOnce();
    expect(scheduler.backoffUntil("groq")).toBeGreaterThanOrEqual(before + 60_000);
    expect(limited!.requests).toHaveLength(1);
  });

  it("never overlaps runs: a second runOnce joins the run in progress, and the timer waits for it", async () => {
    let listing = 0;
    let maxListing = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let runs = 0;
    scheduler = startValidationScheduler({
      intervalMs: 20,
      jitterRatio: 0,
      concurrencyPerProvider: 1,
      logger: logs.logger,
      listDue: async () => {
        listing++;
        runs++;
        maxListing = Math.max(maxListing, listing);
        await gate;
        listing--;
        return [];
      },
      runCheck: async () => ({ status: "valid", detail: "", checkedAt: new Date() }),
    });
    const a = scheduler.runOnce();
    const b = scheduler.runOnce();
    expect(a).toBe(b);
    await new Promise((r) => setTimeout(r, 150)); // several timer periods pass while the run is blocked
    expect(runs).toBe(1);
    release();
    await a;
    await until(() => runs >= 3);
    await scheduler.stop();
    const after = runs;
    await new Promise((r) => setTimeout(r, 100));
    expect(runs).toBe(after);
    expect(maxListing).toBe(1);
  });

  it("a failing runCheck is counted and logged without its message; the other keys are still checked", async () => {
    const [ok] = await providers(1, 1);
    keys = store([{ provider: "openai", prefix: "sk-proj-", count: 3 }]);
    const { listDue, runCheck } = callbacks(keys, checkerFor({ openai: ok!.url }));
    scheduler = startValidationScheduler({
      intervalMs: 3_600_000,
      concurrencyPerProvider: 1,
      logger: logs.logger,
      listDue,
      runCheck: async (k) => {
        if (k.id === keys[0]!.id) throw new Error(`could not decrypt ${k.key}`);
        return runCheck(k);
      },
    });
    const summary = await scheduler.runOnce();
    expect(summary).toMatchObject({ checked: 2, failed: 1 });
    expect(logs.text()).toContain("scheduled key check failed");
  });
});
