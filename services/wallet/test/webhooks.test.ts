// The reminder webhook end to end: the real crypto service and wallet, a loopback receiver in
// Slack's place. Setting, showing and removing it (never the URL), who may, the address rules,
// "Send test", reminders sent once per cause (entering the window, expiring, found invalid by a
// scheduled check) and re-armed by a new date or a working key, retries with back-off, team
// keys, a crypto outage mid-sweep, and no secret path in logs, audit events or metrics.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { mongoForTests } from "@cv-wallet/common/testing/mongo";
import mongoose from "mongoose";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type Account,
  connectClient,
  createKey,
  createToken,
  expectNoSecretsInLogs,
  fakeOpenAi,
  rest,
  type Stack,
  secretsSeen,
  signUp,
  startStack,
} from "./stack.ts";

interface Received {
  method: string;
  path: string;
  contentType: string;
  body: { text?: unknown };
}

/** Stands in for Slack: records each POST; answers `failures` errors (500 unless told) first when told to. */
async function startReceiver() {
  const received: Received[] = [];
  let failures = 0;
  let failStatus = 500;
  const server = http.createServer((req, res) => {
    let data = "";
    req.on("data", (c: Buffer) => {
      data += c.toString("utf8");
    });
    req.on("end", () => {
      let body: Received["body"] = {};
      try {
        body = JSON.parse(data) as Received["body"];
      } catch {
        // Recorded as empty: the test then fails on the missing text.
      }
      received.push({
        method: req.method ?? "",
        path: req.url ?? "",
        contentType: String(req.headers["content-type"] ?? ""),
        body,
      });
      if (failures > 0) {
        failures--;
        res.writeHead(failStatus).end("upstream trouble");
      } else res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    received,
    /** A Slack-shaped URL whose last segment is the secret. */
    urlFor: (secret: string) => `http://127.0.0.1:${port}/services/T000/B000/${secret}`,
    failNext: (n: number, status = 500) => {
      failures = n;
      failStatus = status;
    },
    texts: () => received.map((r) => String(r.body.text ?? "")),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let stack: Stack;
let base: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let openai: Awaited<ReturnType<typeof fakeOpenAi>>;
const validOpenAiKeys = new Set<string>();
/** Every secret path handed to the wallet: none may show up in a log, an audit event or /metrics. */
const secretPaths: string[] = [];

const DAY = 86_400_000;
const inDays = (n: number) => new Date(Date.now() + n * DAY).toISOString();

function newSecret(): string {
  const s = `XyZ${randomBytes(12).toString("hex")}`;
  secretPaths.push(s);
  secretsSeen.add(s);
  return s;
}

async function setWebhook(account: Account, secret = newSecret()) {
  const r = await rest(base, "PUT", "/api/account/webhook", { url: receiver.urlFor(secret) }, account);
  expect(r.status, r.text).toBe(200);
  return { secret, body: r.body };
}

async function auditOf(account: Account, action?: string) {
  const r = await rest(base, "GET", `/api/audit${action ? `?action=${action}` : ""}`, undefined, account);
  expect(r.status).toBe(200);
  return r.body.events as { action: string; details: Record<string, string>; target: { type: string; id: string } }[];
}

/** The wallet's whole database (every audit event, every record): the SQLite files' bytes, or every MongoDB collection. */
async function everythingStored(store: "sqlite" | "mongodb"): Promise<string> {
  if (store === "sqlite") {
    const dbDir = join(stack.dir, "wallet");
    return readdirSync(dbDir)
      .map((f) => readFileSync(join(dbDir, f)).toString("latin1"))
      .join("\n");
  }
  const connection = await mongoose.createConnection(mongo!.uri).asPromise();
  try {
    const db = connection.db!;
    const dumps = [];
    for (const c of await db.listCollections().toArray())
      dumps.push(JSON.stringify(await db.collection(c.name).find().toArray()));
    return dumps.join("\n");
  } finally {
    await connection.close();
  }
}

/** MongoDB when one is reachable (MONGODB_URI, a local mongod, testcontainers); else the skip is printed. */
const mongo = await mongoForTests("reminder webhooks end to end (MongoDB)");

beforeAll(async () => {
  receiver = await startReceiver();
  openai = await fakeOpenAi(validOpenAiKeys);
});

afterAll(async () => {
  await receiver?.close();
  await openai?.close();
  await mongo?.stop();
});

for (const store of ["sqlite", "mongodb"] as const) {
  describe.skipIf(store === "mongodb" && !mongo)(`reminder webhooks on ${store}`, () => {
    beforeAll(async () => {
      stack = await startStack({
        ...(store === "mongodb" ? { mongodbUri: mongo!.uri } : {}),
        providers: { allowPrivateBaseUrls: true, baseUrlOverrides: { openai: openai.url } },
        webhookRetryDelaysMs: [20, 40, 80],
        reminderIntervalMs: 0,
      });
      base = stack.url;
    });

    afterAll(async () => {
      await stack?.stop();
    });

    beforeEach(async () => {
      // Reminders of earlier tests' keys are sent (and claimed) before each test starts counting.
      await stack.wallet.reminders.run();
      receiver.received.length = 0;
    });

    describe("setting the webhook", () => {
      it("keeps the URL encrypted and shows only its host and last four characters", async () => {
        const me = await signUp(base);
        expect((await rest(base, "GET", "/api/account/webhook", undefined, me)).body).toEqual({});
        const { secret, body } = await setWebhook(me);
        expect(body.webhook.host).toBe("127.0.0.1");
        expect(body.webhook.hint).toBe(`127.0.0.1/…${secret.slice(-4)}`);
        const got = await rest(base, "GET", "/api/account/webhook", undefined, me);
        expect(got.text).not.toContain(secret);
        expect(got.body.webhook.hint).toBe(body.webhook.hint);
        const stored = await stack.wallet.store.webhooks.get(me.userId);
        expect(stored?.ciphertext).toMatch(/^cvw:v1:/);
        expect(JSON.stringify(stored)).not.toContain(secret);
        // Over Connect too.
        const viaConnect = await connectClient(base, me).getWebhook({});
        expect(viaConnect.webhook?.hint).toBe(body.webhook.hint);
        const events = await auditOf(me, "webhook.updated");
        expect(events[0]?.details).toEqual({ change: "set", host: "127.0.0.1" });
      });

      it("trims a pasted URL and replaces the previous one", async () => {
        const me = await signUp(base);
        await setWebhook(me);
        const secret = newSecret();
        const r = await rest(base, "PUT", "/api/account/webhook", { url: `  ${receiver.urlFor(secret)}\n` }, me);
        expect(r.status, r.text).toBe(200);
        expect(r.body.webhook.hint.endsWith(secret.slice(-4))).toBe(true);
        expect((await auditOf(me, "webhook.updated"))[0]?.details.change).toBe("replaced");
        await rest(base, "POST", "/api/account/webhook/test", undefined, me);
        expect(receiver.received.map((x) => x.path)).toEqual([`/services/T000/B000/${secret}`]);
      });

      it("refuses a URL the wallet must never call, naming what is wrong", async () => {
        const me = await signUp(base);
        const cases: [string, RegExp][] = [
          ["http://169.254.169.254/latest/meta-data", /link-local, metadata or reserved/],
          ["http://metadata.google.internal/x", /metadata/],
          ["ftp://hooks.example.com/x", /only https/],
          ["https://user:pw@hooks.example.com/x", /user name or password/],
          ["https://hooks.example.com/x#frag", /fragment/],
          ["not a url", /not a valid absolute URL/],
        ];
        for (const [url, message] of cases) {
          const r = await rest(base, "PUT", "/api/account/webhook", { url }, me);
          expect(r.status, url).toBe(400);
          expect(r.body.error.message, url).toMatch(/^url: /);
          expect(r.body.error.message, url).toMatch(message);
        }
        expect((await rest(base, "PUT", "/api/account/webhook", { url: "" }, me)).status).toBe(400);
        expect(
          (await rest(base, "PUT", "/api/account/webhook", { url: `https://x.example/${"a".repeat(3000)}` }, me))
            .status,
        ).toBe(400);
        // A query string carries some services' tokens (Google Chat): allowed.
        const withQuery = await rest(
          base,
          "PUT",
          "/api/account/webhook",
          { url: "https://chat.example.com/v1/spaces/a/messages?key=k&token=t" },
          me,
        );
        expect(withQuery.status, withQuery.text).toBe(200);
      });

      it("refuses loopback and private addresses unless the operator allows them, and says how", async () => {
        const strict = await stack.startAnotherWallet({
          providers: { allowPrivateBaseUrls: false, baseUrlOverrides: {} },
        });
        const me = await signUp(strict.url);
        const r = await rest(strict.url, "PUT", "/api/account/webhook", { url: receiver.urlFor(newSecret()) }, me);
        expect(r.status).toBe(400);
        expect(r.body.error.message).toMatch(/WALLET_ALLOW_PRIVATE_BASE_URLS=true/);
        const named = await rest(strict.url, "PUT", "/api/account/webhook", { url: "https://localhost/hook" }, me);
        expect(named.status).toBe(400);
        const cleartext = await rest(
          strict.url,
          "PUT",
          "/api/account/webhook",
          { url: "http://hooks.example.com/x" },
          me,
        );
        expect(cleartext.body.error.message).toBe("url: only https URLs are allowed");
      });

      it("is a session's business: tokens, other people and cross-site pages get nowhere", async () => {
        const me = await signUp(base);
        const { secret } = await setWebhook(me);
        const token = await createToken(base, me);
        for (const [method, path] of [
          ["GET", "/api/account/webhook"],
          ["PUT", "/api/account/webhook"],
          ["DELETE", "/api/account/webhook"],
          ["POST", "/api/account/webhook/test"],
        ] as const) {
          const body = method === "PUT" ? { url: receiver.urlFor(newSecret()) } : undefined;
          expect(
            (await rest(base, method, path, body, { token: token.secret })).status,
            `${method} ${path} token`,
          ).toBe(403);
          expect((await rest(base, method, path, body)).status, `${method} ${path} anonymous`).toBe(401);
          if (method !== "GET") {
            const crossSite = await rest(base, method, path, body, {
              cookie: me.cookie,
              origin: "https://evil.example",
            });
            expect(crossSite.status, `${method} ${path} cross-site`).toBe(403);
          }
        }
        // Another person sees their own (none), never mine.
        const other = await signUp(base);
        expect((await rest(base, "GET", "/api/account/webhook", undefined, other)).body).toEqual({});
        expect((await rest(base, "DELETE", "/api/account/webhook", undefined, other)).status).toBe(404);
        const untested = await rest(base, "POST", "/api/account/webhook/test", undefined, other);
        expect(untested.status).toBe(412);
        expect(untested.body.error).toEqual({
          code: "failed_precondition",
          message: "no reminder webhook is set; save one first",
        });
        expect((await rest(base, "GET", "/api/account/webhook", undefined, me)).body.webhook.hint).toContain(
          secret.slice(-4),
        );
      });

      it("removes it (404 when there is none) and deleting the account removes it too", async () => {
        const me = await signUp(base);
        await setWebhook(me);
        expect((await rest(base, "DELETE", "/api/account/webhook", undefined, me)).status).toBe(200);
        expect((await rest(base, "GET", "/api/account/webhook", undefined, me)).body).toEqual({});
        expect((await rest(base, "DELETE", "/api/account/webhook", undefined, me)).status).toBe(404);
        expect((await auditOf(me, "webhook.updated"))[0]?.details.change).toBe("removed");

        const leaving = await signUp(base);
        await setWebhook(leaving);
        const gone = await rest(
          base,
          "DELETE",
          "/api/auth/account",
          { password: "correct horse battery staple" },
          leaving,
        );
        expect(gone.status, gone.text).toBe(200);
        expect(await stack.wallet.store.webhooks.get(leaving.userId)).toBeUndefined();
      });
    });

    describe("Send test", () => {
      it("posts Slack-compatible JSON once and reports the outcome without the path", async () => {
        const me = await signUp(base);
        const { secret } = await setWebhook(me);
        const r = await rest(base, "POST", "/api/account/webhook/test", undefined, me);
        expect(r.status, r.text).toBe(200);
        expect(r.body.delivery).toMatchObject({
          delivered: true,
          event: "test",
          attempts: 1,
          detail: "HTTP 200 from 127.0.0.1",
        });
        expect(receiver.received).toHaveLength(1);
        expect(receiver.received[0]).toMatchObject({ method: "POST", path: `/services/T000/B000/${secret}` });
        expect(receiver.received[0]!.contentType).toMatch(/^application\/json/);
        expect(receiver.received[0]!.body.text).toMatch(/test message/);
        const shown = await rest(base, "GET", "/api/account/webhook", undefined, me);
        expect(shown.body.webhook.lastDelivery).toMatchObject({ delivered: true, event: "test" });
        expect((await auditOf(me, "webhook.sent"))[0]?.details).toMatchObject({
          event: "test",
          host: "127.0.0.1",
          attempts: "1",
        });
      });

      it("tries once and says why it failed; no retries keep the person waiting", async () => {
        const me = await signUp(base);
        await setWebhook(me);
        receiver.failNext(1);
        const r = await rest(base, "POST", "/api/account/webhook/test", undefined, me);
        expect(r.status).toBe(200);
        expect(r.body.delivery).toMatchObject({ delivered: false, attempts: 1, detail: "HTTP 500 from 127.0.0.1" });
        expect((await auditOf(me, "webhook.failed"))[0]?.details).toMatchObject({
          event: "test",
          reason: "HTTP 500 from 127.0.0.1",
        });
      });

      it("is limited per person (each test is a request to a host the person chose)", async () => {
        const me = await signUp(base);
        await setWebhook(me);
        const statuses: number[] = [];
        for (let i = 0; i < 12; i++)
          statuses.push((await rest(base, "POST", "/api/account/webhook/test", undefined, me)).status);
        expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
        const refused = await rest(base, "POST", "/api/account/webhook/test", undefined, me);
        expect(refused.status).toBe(429);
        expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
        expect(receiver.received).toHaveLength(10);
      });
    });

    describe("expiry reminders", () => {
      it("remind once when a key enters its window and once when it expires; a new date re-arms them", async () => {
        const me = await signUp(base);
        await setWebhook(me);
        const soon = await createKey(base, me, { name: "soon <!channel>", expiresAt: inDays(3) });
        await createKey(base, me, { name: "later", expiresAt: inDays(30) });
        const expired = await createKey(base, me, {
          provider: "anthropic",
          key: `sk-ant-${randomBytes(12).toString("hex")}`,
          name: "old",
          expiresAt: inDays(-2),
        });
        await createKey(base, me, { name: "forever" });

        const first = await stack.wallet.reminders.run();
        expect(first.sent).toBe(2);
        const texts = receiver.texts().sort();
        expect(texts).toHaveLength(2);
        const expiring = texts.find((t) => t.includes("expires"))!;
        expect(expiring).toMatch(/OpenAI key “soon &lt;!channel&gt;” expires in 3 days/);
        expect(texts.find((t) => t.includes("expired"))).toMatch(/Anthropic key “old” expired on \d{4}-\d{2}-\d{2}/);

        // Once: the next sweeps send nothing.
        expect((await stack.wallet.reminders.run()).sent).toBe(0);
        expect(receiver.received).toHaveLength(2);

        // A rename is not a new date; a new date (still inside the window) re-arms.
        await rest(
          base,
          "PATCH",
          `/api/keys/${soon.id}`,
          {
            name: "soon-renamed",
            expiresAt: (await stack.wallet.store.keys.get(me.userId, soon.id))!.expiresAt!.toISOString(),
          },
          me,
        );
        expect((await stack.wallet.reminders.run()).sent).toBe(0);
        await rest(base, "PATCH", `/api/keys/${soon.id}`, { expiresAt: inDays(5) }, me);
        expect((await stack.wallet.reminders.run()).sent).toBe(1);
        expect(receiver.texts().at(-1)).toMatch(/“soon-renamed” expires in 5 days/);

        // Later, the day passes: the expiry sends its own reminder, once.
        const afterExpiry = new Date(Date.now() + 6 * DAY);
        const run = await stack.wallet.reminders.run(afterExpiry);
        expect(run.sent).toBeGreaterThanOrEqual(1);
        expect(receiver.texts().filter((t) => t.includes("“soon-renamed” expired on"))).toHaveLength(1);
        await stack.wallet.reminders.run(afterExpiry);
        expect(receiver.texts().filter((t) => t.includes("“soon-renamed” expired on"))).toHaveLength(1);

        const events = await auditOf(me, "webhook.sent");
        expect(events.map((e) => e.details.event).sort()).toEqual(["expired", "expired", "expiring", "expiring"]);
        expect(events.every((e) => e.target.type === "key")).toBe(true);
        expect(expired.id).toMatch(/^[0-9a-f]{24}$/);
      });

      it("retries a failing webhook with back-off, and again at each sweep while it fails; a 4xx is final", async () => {
        const me = await signUp(base);
        await setWebhook(me);
        await createKey(base, me, { name: "retried", expiresAt: inDays(2) });
        receiver.failNext(2);
        const run = await stack.wallet.reminders.run();
        expect(run).toMatchObject({ sent: 1, failed: 0 });
        expect(receiver.received).toHaveLength(3);
        expect((await auditOf(me, "webhook.sent"))[0]?.details).toMatchObject({ event: "expiring", attempts: "3" });

        await createKey(base, me, { name: "doomed", expiresAt: inDays(2) });
        receiver.received.length = 0;
        receiver.failNext(100);
        const failing = await stack.wallet.reminders.run();
        expect(failing).toMatchObject({ sent: 0, failed: 1 });
        expect(receiver.received).toHaveLength(4);
        const failed = (await auditOf(me, "webhook.failed"))[0];
        expect(failed?.details).toMatchObject({
          event: "expiring",
          attempts: "4",
          reason: "HTTP 500 from 127.0.0.1",
          retryable: "yes",
        });
        expect(
          (await rest(base, "GET", "/api/account/webhook", undefined, me)).body.webhook.lastDelivery,
        ).toMatchObject({ delivered: false, event: "expiring" });
        // Still failing at the next sweep: tried again.
        receiver.received.length = 0;
        expect((await stack.wallet.reminders.run()).failed).toBe(1);
        expect(receiver.received).toHaveLength(4);
        // Back up: the next sweep delivers it, once.
        receiver.failNext(0);
        receiver.received.length = 0;
        expect((await stack.wallet.reminders.run()).sent).toBe(1);
        expect(receiver.texts()).toEqual([expect.stringMatching(/“doomed” expires in/)]);
        expect((await stack.wallet.reminders.run()).sent).toBe(0);
        expect(receiver.received).toHaveLength(1);

        // A 404 (the webhook was removed at the other end) will not change: one request, not again.
        await createKey(base, me, { name: "nowhere", expiresAt: inDays(2) });
        receiver.received.length = 0;
        receiver.failNext(100, 404);
        expect(await stack.wallet.reminders.run()).toMatchObject({ sent: 0, failed: 1 });
        expect((await stack.wallet.reminders.run()).failed).toBe(0);
        receiver.failNext(0);
        expect(receiver.received).toHaveLength(1);
        expect((await auditOf(me, "webhook.failed"))[0]?.details).toMatchObject({
          reason: "HTTP 404 from 127.0.0.1",
          retryable: "no",
        });
      });

      it("treats an expiry long past as old news (nothing sent), a recent one as news", async () => {
        const me = await signUp(base);
        await setWebhook(me);
        await createKey(base, me, { name: "ancient", expiresAt: inDays(-10) });
        await createKey(base, me, { name: "recent", expiresAt: inDays(-6) });
        const run = await stack.wallet.reminders.run();
        expect(run).toMatchObject({ sent: 1 });
        expect(receiver.texts()).toEqual([expect.stringMatching(/“recent” expired on/)]);
        expect((await stack.wallet.reminders.run()).sent).toBe(0);
      });

      it("is sent once when several wallet processes sweep the same store at the same time", async () => {
        const other = await stack.startAnotherWallet({ reminderIntervalMs: 0 });
        const me = await signUp(base);
        await setWebhook(me);
        for (let i = 0; i < 5; i++) await createKey(base, me, { name: `shared-sweep-${i}`, expiresAt: inDays(2 + i) });
        const runs = await Promise.all([
          stack.wallet.reminders.run(),
          other.reminders.run(),
          stack.wallet.reminders.run(),
        ]);
        // The third call joins the first wallet's sweep in progress.
        expect(runs[0]).toBe(runs[2]);
        expect(runs[0]!.sent + runs[1]!.sent).toBe(5);
        expect(receiver.received).toHaveLength(5);
        expect(new Set(receiver.texts()).size).toBe(5);
      });

      it("does not replay old news to a webhook set later", async () => {
        const me = await signUp(base);
        await createKey(base, me, { name: "quiet", expiresAt: inDays(4) });
        expect((await stack.wallet.reminders.run()).unsent).toBeGreaterThanOrEqual(1);
        await setWebhook(me);
        expect((await stack.wallet.reminders.run()).sent).toBe(0);
        expect(receiver.received).toHaveLength(0);
      });

      it("tells a team key's owners and admins, not its members", async () => {
        const owner = await signUp(base);
        const admin = await signUp(base);
        const member = await signUp(base);
        const team = (await rest(base, "POST", "/api/teams", { name: "Platform & <Ops>" }, owner)).body.team
          .id as string;
        for (const [who, role] of [
          [admin, "admin"],
          [member, "member"],
        ] as const) {
          const inv = await rest(base, "POST", `/api/teams/${team}/invitations`, { email: who.email, role }, owner);
          expect((await rest(base, "POST", "/api/invitations/accept", { code: inv.body.code }, who)).status).toBe(200);
        }
        const secrets = new Map<string, string>();
        for (const who of [owner, admin, member]) secrets.set(who.userId, (await setWebhook(who)).secret);
        await createKey(base, owner, { teamId: team, name: "shared", expiresAt: inDays(1) });
        const run = await stack.wallet.reminders.run();
        expect(run.sent).toBe(2);
        const paths = receiver.received.map((r) => r.path.split("/").at(-1)).sort();
        expect(paths).toEqual([secrets.get(owner.userId), secrets.get(admin.userId)].sort());
        expect(receiver.texts()[0]).toMatch(/The team “Platform &amp; &lt;Ops&gt;”'s OpenAI key “shared” expires/);
        expect(await auditOf(member, "webhook.sent")).toHaveLength(0);
        expect(await auditOf(admin, "webhook.sent")).toHaveLength(1);
      });

      it("leaves a reminder for the next sweep when the crypto service cannot open the URL", async () => {
        const me = await signUp(base);
        await setWebhook(me);
        await createKey(base, me, { name: "outage", expiresAt: inDays(6) });
        await stack.stopCrypto();
        try {
          const during = await stack.wallet.reminders.run();
          expect(during.sent).toBe(0);
        } finally {
          await stack.startCrypto();
        }
        expect(receiver.received).toHaveLength(0);
        // The wallet's crypto channel reconnects; the next sweep sends it.
        let sent = 0;
        for (let i = 0; i < 20 && sent === 0; i++) {
          sent = (await stack.wallet.reminders.run()).sent;
          if (sent === 0) await new Promise((r) => setTimeout(r, 250));
        }
        expect(sent).toBe(1);
        expect(receiver.texts()[0]).toMatch(/“outage” expires in 6 days/);
      });
    });

    describe("invalid-key reminders", () => {
      it("remind once when a scheduled check finds a key invalid, and again only after it worked", async () => {
        const me = await signUp(base);
        await setWebhook(me);
        const key = `sk-proj-${randomBytes(16).toString("hex")}`;
        validOpenAiKeys.add(key);
        const created = await createKey(base, me, { key, name: "revoked-later" });
        const check = async () => {
          const record = (await stack.wallet.store.keys.get(me.userId, created.id))!;
          return stack.wallet.revalidation.runCheck(record);
        };
        expect((await check()).status).toBe("valid");
        expect(receiver.received).toHaveLength(0);

        validOpenAiKeys.delete(key);
        expect((await check()).status).toBe("invalid");
        expect(receiver.texts()).toHaveLength(1);
        expect(receiver.texts()[0]).toMatch(
          /OpenAI key “revoked-later” is no longer valid: HTTP 401 from 127\.0\.0\.1:\d+ \(invalid_api_key\)/,
        );
        expect(receiver.texts()[0]).not.toContain(key);
        await check();
        expect(receiver.received).toHaveLength(1);

        // Working again re-arms it; failing again reminds again.
        validOpenAiKeys.add(key);
        await check();
        validOpenAiKeys.delete(key);
        await check();
        expect(receiver.received).toHaveLength(2);
        const events = await auditOf(me, "webhook.sent");
        expect(events.filter((e) => e.details.event === "invalid")).toHaveLength(2);
      });
    });

    describe("secrets", () => {
      it("no webhook path in logs, audit events or metrics", async () => {
        const everyone = await signUp(base);
        await setWebhook(everyone);
        await rest(base, "POST", "/api/account/webhook/test", undefined, everyone);
        const logs = stack.logs();
        expect(logs).toMatch(/webhook delivery/);
        const metrics = await fetch(`${stack.wallet.metricsUrl}/metrics`).then((r) => r.text());
        expect(metrics).toMatch(
          /wallet_webhook_deliveries_total\{event="test",outcome="delivered",service="wallet"\} \d+/,
        );
        expect(metrics).toMatch(
          /wallet_webhook_deliveries_total\{event="expiring",outcome="delivered",service="wallet"\} \d+/,
        );
        const disk = await everythingStored(store);
        expect(disk).toMatch(/webhook\.sent/);
        expect(secretPaths.length).toBeGreaterThan(10);
        for (const secret of secretPaths) {
          expect(logs).not.toContain(secret);
          expect(metrics).not.toContain(secret);
          expect(disk).not.toContain(secret);
        }
        expectNoSecretsInLogs(stack);
      });
    });
  });
}
