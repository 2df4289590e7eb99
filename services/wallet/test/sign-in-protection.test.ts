// Sign-in and sign-up under attack: the login-protection scheme (consecutive failures per
// account and address, a daily cap per address, reset on success) counted before the password
// hash, so parallel guesses are limited like serial ones; lockouts that an attacker elsewhere
// cannot impose on the owner; the real wait reported; sign-ups limited per address; password
// hashing capped process-wide.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashingStats, hashPassword, verifyPassword } from "../src/domain/passwords.ts";
import { SIGN_IN } from "../src/limits/limiters.ts";
import { expectNoSecretsInLogs, PASSWORD, rest, type Stack, startStack } from "./stack.ts";

let stack: Stack;
let base: string;

beforeAll(async () => {
  // Behind a trusted proxy the client address comes from X-Forwarded-For: one machine plays many.
  stack = await startStack({ trustProxy: true, signUpRateLimitPerHour: 5 });
  base = stack.url;
});
afterAll(async () => {
  if (stack) expectNoSecretsInLogs(stack);
  await stack?.stop();
});

let nextAddress = 1;
const newAddress = () => `203.0.113.${nextAddress++}`;

async function post(path: string, body: unknown, address: string) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": address },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined, text };
}
const signIn = (email: string, password: string, address: string) =>
  post("/api/auth/login", { email, password }, address);

async function account(address = newAddress()) {
  const email = `victim-${Math.random().toString(36).slice(2)}@example.com`;
  const r = await post("/api/auth/signup", { email, password: PASSWORD }, address);
  expect(r.status).toBe(201);
  return { email, cookie: r.headers.get("set-cookie")!.split(";")[0]! };
}

describe("sign-in throttle", () => {
  it("40 parallel wrong passwords and the right one: at most the limit are checked", async () => {
    const a = await account();
    const attacker = newAddress();
    const attempts = [
      ...Array.from({ length: 40 }, (_, i) => signIn(a.email, `wrong password ${i}`, attacker)),
      signIn(a.email, PASSWORD, attacker),
    ];
    const replies = await Promise.all(attempts);
    const checked = replies.filter((r) => r.status === 200 || r.status === 401);
    const refused = replies.filter((r) => r.status === 429);
    expect(checked.length).toBeLessThanOrEqual(SIGN_IN.consecutiveFailures);
    expect(refused.length).toBe(replies.length - checked.length);
    for (const r of refused) {
      expect(r.body.error.code).toBe("resource_exhausted");
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
    }
  });

  it("an attacker elsewhere cannot lock the owner out of their own address; the wait is real", async () => {
    const owner = newAddress();
    const a = await account(owner);
    const attacker = newAddress();
    for (let i = 0; i < SIGN_IN.consecutiveFailures; i++) {
      expect((await signIn(a.email, "not the password", attacker)).status).toBe(401);
    }
    const blocked = await signIn(a.email, PASSWORD, attacker);
    expect(blocked.status).toBe(429);
    const wait = Number(blocked.headers.get("retry-after"));
    // The lockout lasts its full length, and the message names it (not "wait a minute").
    expect(wait).toBeGreaterThan(SIGN_IN.lockoutSeconds - 60);
    expect(wait).toBeLessThanOrEqual(SIGN_IN.lockoutSeconds);
    expect(blocked.body.error.message).toMatch(/try again in 15 minutes/);
    expect((await signIn(a.email, PASSWORD, owner)).status).toBe(200);
  });

  it("a success resets the consecutive count", async () => {
    const a = await account();
    const from = newAddress();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < SIGN_IN.consecutiveFailures - 1; i++) {
        expect((await signIn(a.email, "not the password", from)).status).toBe(401);
      }
      expect((await signIn(a.email, PASSWORD, from)).status).toBe(200);
    }
  });

  it("caps failures per address per day across accounts (unknown emails too)", async () => {
    const from = newAddress();
    const replies = await Promise.all(
      Array.from({ length: SIGN_IN.dailyFailuresPerAddress + 10 }, (_, i) =>
        signIn(`nobody-${i}@example.com`, "not the password", from),
      ),
    );
    expect(replies.filter((r) => r.status === 401).length).toBe(SIGN_IN.dailyFailuresPerAddress);
    expect(replies.filter((r) => r.status === 429).length).toBe(10);
    // Another address is not affected.
    expect((await signIn("nobody@example.com", "not the password", newAddress())).status).toBe(401);
  });

  it("audits failed sign-ins and the lockout, never the password", async () => {
    const a = await account();
    const from = newAddress();
    for (let i = 0; i <= SIGN_IN.consecutiveFailures + 1; i++) await signIn(a.email, "secret guess 123", from);
    const audit = await rest(base, "GET", "/api/audit?page_size=100", undefined, { cookie: a.cookie });
    expect(audit.status).toBe(200);
    const actions = audit.body.events.map((e: { action: string }) => e.action);
    expect(actions.filter((x: string) => x === "auth.sign_in_failed").length).toBe(SIGN_IN.consecutiveFailures);
    expect(actions.filter((x: string) => x === "auth.sign_in_locked").length).toBe(1);
    const locked = audit.body.events.find((e: { action: string }) => e.action === "auth.sign_in_locked");
    expect(locked.address).toBe(from);
    expect(audit.text).not.toContain("secret guess 123");
    expect(stack.logs()).not.toContain("secret guess 123");
  });
});

describe("sign-up throttle and the hashing queue", () => {
  it("limits sign-ups per address; other addresses are not affected", async () => {
    const from = newAddress();
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        post("/api/auth/signup", { email: `burst-${i}-${from}@example.com`, password: PASSWORD }, from),
      ),
    );
    expect(replies.filter((r) => r.status === 201).length).toBe(5);
    const refused = replies.filter((r) => r.status === 429);
    expect(refused.length).toBe(25);
    expect(Number(refused[0]!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await account(newAddress())).email).toMatch(/@example.com$/);
  });

  it("never runs more password hashes at once than the cap", async () => {
    const stored = await hashPassword("a password for the queue");
    const results = await Promise.all(Array.from({ length: 24 }, () => verifyPassword("wrong", stored)));
    expect(results.every((ok) => ok === false)).toBe(true);
    const stats = hashingStats();
    expect(stats.peak).toBeGreaterThan(0);
    expect(stats.peak).toBeLessThanOrEqual(stats.maxConcurrent);
    expect(stats.running).toBe(0);
  });
});
