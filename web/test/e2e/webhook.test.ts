// The reminder webhook in a real browser: save a Slack-style URL (a loopback receiver stands in
// for Slack), see only its hint, send a test, see a refused URL explained at the field, get one
// reminder for a key about to expire (and only one), find it in the audit log, remove the
// webhook. Real crypto and wallet services on loopback, serving the built UI; the secret part of
// the URL must never come back to any page.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { reportSkip } from "@cv-wallet/common/testing/skips";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath, haveChromium, launch, screenshot, screenshots, WIDE } from "./support/browser.ts";
import { type FakeProviders, startFakeProviders } from "./support/fake-providers.ts";
import { type Stack, startStack } from "./support/stack.ts";
import { addKey, daysFromNow, focusedId, signUp, textMatching } from "./support/ui.ts";

if (!haveChromium) reportSkip("web reminder webhook suite", `no Chromium at ${chromiumPath} (set CHROMIUM_PATH)`);

interface Received {
  method: string;
  path: string;
  contentType: string;
  body: unknown;
}

interface Receiver {
  /** http://127.0.0.1:<port> */
  origin: string;
  received: Received[];
  /** The next `n` requests are answered 500 (and still recorded). */
  failNext(n: number): void;
  close(): Promise<void>;
}

/** A loopback stand-in for Slack's incoming webhooks: records each POST, answers "ok". */
async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  let failing = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: unknown = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        // Kept as text: the assertion on the body then says what arrived.
      }
      received.push({
        method: req.method ?? "",
        path: req.url ?? "",
        contentType: req.headers["content-type"] ?? "",
        body,
      });
      if (failing > 0) {
        failing -= 1;
        res.writeHead(500, { "content-type": "text/plain" });
        res.end("server_error");
        return;
      }
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    received,
    failNext: (n) => {
      failing = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function textOf(r: Received | undefined): string {
  const body = r?.body;
  return body && typeof body === "object" && "text" in body && typeof body.text === "string" ? body.text : "";
}

describe.skipIf(!haveChromium)("reminder webhook in Chromium", () => {
  let providers: FakeProviders;
  let receiver: Receiver;
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  const problems: string[] = [];

  beforeAll(async () => {
    providers = await startFakeProviders();
    receiver = await startReceiver();
    // The receiver is on loopback: only an operator who allows private addresses lets that in.
    stack = await startStack(providers.baseUrl, { allowPrivateBaseUrls: true });
    browser = await launch();
  });
  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close();
    await stack?.stop();
    await receiver?.close();
    await providers?.close();
  });

  async function newPage(): Promise<Page> {
    context = await browser.newContext({ viewport: WIDE, baseURL: stack.origin });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    return page;
  }

  it("saves a webhook, tests it, reminds once, audits it and removes it, never showing the URL's secret", {
    timeout: 120_000,
  }, async () => {
    // Slack puts the secret in the path: /services/<team>/<bot>/<secret>.
    const secret = randomBytes(18).toString("base64url");
    const webhookPath = `/services/T000/B000/${secret}`;
    const webhookUrl = `${receiver.origin}${webhookPath}`;
    // Everything of the secret but the last 4 characters the hint may show.
    const hidden = secret.slice(0, -4);
    const pagesSeen: string[] = [];
    const remember = async (page: Page) => {
      pagesSeen.push(await page.content());
    };

    const page = await newPage();
    await signUp(page, `webhook-${Date.now()}@example.com`, "correct horse battery staple");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Account" }).click();
    await page.getByRole("heading", { name: "Reminder webhook" }).waitFor();

    // No webhook yet: what it does, and a field for the URL.
    const section = page.locator("section", { has: page.getByRole("heading", { name: "Reminder webhook" }) });
    await textMatching(section, /posts one message.*never shown again/s);
    const field = page.getByLabel("Webhook URL", { exact: true });
    await field.waitFor();
    expect(await field.getAttribute("type")).toBe("url");
    expect(await field.getAttribute("autocomplete")).toBe("off");
    await screenshots(page, "account-webhook-empty");

    // Addresses the wallet may not call are refused with its reason, at the field.
    for (const refused of ["http://169.254.169.254/latest", "ftp://x"]) {
      await field.fill(refused);
      await field.press("Enter");
      const why = await textMatching(page.locator("#webhook-url-error"), /\S/);
      expect(why).not.toMatch(/Enter the webhook's URL|not a URL/);
      expect(await field.getAttribute("aria-invalid")).toBe("true");
      expect(await focusedId(page)).toBe("webhook-url");
    }
    await screenshots(page, "account-webhook-refused");
    expect(receiver.received).toHaveLength(0);

    // Save the real one, keyboard only: Enter in the field, then focus lands on "Send test".
    await page.route("**/cvwallet.wallet.v1.WalletService/SetWebhook", async (route) => {
      await new Promise((r) => setTimeout(r, 400));
      await route.continue();
    });
    await field.fill(webhookUrl);
    await field.press("Enter");
    await page.getByRole("button", { name: "Saving…" }).waitFor();
    const hint = await textMatching(section.locator("dl code"), /127\.0\.0\.1/);
    await page.unroute("**/cvwallet.wallet.v1.WalletService/SetWebhook");
    expect(hint).toContain(secret.slice(-4));
    expect(hint).not.toContain(hidden);
    await textMatching(section.getByTestId("webhook-last"), /None yet/);
    await page.waitForFunction(() => document.activeElement?.id === "webhook-test");
    expect(await page.getByLabel("Webhook URL", { exact: true }).count()).toBe(0);
    await remember(page);

    // Send a test: a busy label while it runs, then "delivered"; the receiver got one POST.
    await page.route("**/cvwallet.wallet.v1.WalletService/TestWebhook", async (route) => {
      await new Promise((r) => setTimeout(r, 400));
      await route.continue();
    });
    await page.keyboard.press("Enter");
    await page.getByRole("button", { name: "Sending…" }).waitFor();
    await textMatching(section.getByTestId("webhook-test-result"), /^Test message delivered/);
    await page.unroute("**/cvwallet.wallet.v1.WalletService/TestWebhook");
    await textMatching(section.getByTestId("webhook-last"), /^\s*delivered\s*Test message: /);
    expect(receiver.received).toHaveLength(1);
    const first = receiver.received[0];
    expect(first?.method).toBe("POST");
    expect(first?.path).toBe(webhookPath);
    expect(first?.contentType).toMatch(/^application\/json/);
    expect(Object.keys((first?.body as object) ?? {})).toEqual(["text"]);
    expect(textOf(first)).not.toBe("");
    await screenshots(page, "account-webhook");
    await remember(page);

    // A test the receiver refuses is shown as not delivered, with the reason (not as an error).
    receiver.failNext(1);
    await page.getByRole("button", { name: "Send test" }).press("Enter");
    const failed = await textMatching(section.getByTestId("webhook-test-result"), /not delivered/);
    expect(failed).toMatch(/^Test message not delivered: .*500/);
    expect(await section.getByTestId("webhook-test-result").getAttribute("class")).toMatch(/\berror\b/);
    expect(receiver.received).toHaveLength(2);
    await screenshots(page, "account-webhook-test-failed");
    await remember(page);

    // A key that expires in 3 days: the sweep sends one reminder naming it, and only once.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" }).click();
    await page.getByRole("heading", { name: "Keys", exact: true }).waitFor();
    const plaintext = `sk-proj-test-${randomBytes(12).toString("hex")}`;
    await addKey(page, { provider: "openai", name: "soon-gone", key: plaintext, expiresOn: daysFromNow(3) });
    await remember(page);
    const before = receiver.received.length;
    expect(await stack.runReminders()).toMatchObject({ sent: 1, failed: 0 });
    const reminders = receiver.received.slice(before);
    expect(reminders).toHaveLength(1);
    const reminder = reminders[0];
    expect(reminder?.method).toBe("POST");
    expect(reminder?.path).toBe(webhookPath);
    expect(reminder?.contentType).toMatch(/^application\/json/);
    const text = textOf(reminder);
    expect(text).toContain("soon-gone");
    expect(text).toMatch(/openai/i);
    expect(text).toMatch(/expires/i);
    expect(text).not.toContain(plaintext);
    expect(text).not.toContain(secret);
    expect(await stack.runReminders()).toMatchObject({ sent: 0, failed: 0 });
    expect(receiver.received).toHaveLength(before + 1);

    // The account page shows that reminder as the last delivery.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Account" }).click();
    await textMatching(section.getByTestId("webhook-last"), /^\s*delivered\s*Expiry reminder/);
    // The README's picture: the section itself, in the middle of a 1440 px window.
    await section.evaluate((el) => el.scrollIntoView({ block: "center" }));
    await screenshot(page, "docs-account-webhook");
    await remember(page);

    // The audit log: labelled rows for the change and the reminder, no secret in the HTML.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
    await textMatching(page.locator('tr[data-action="webhook.sent"]').first(), /Reminder sent/);
    await textMatching(page.locator('tr[data-action="webhook.updated"]').first(), /Webhook changed/);
    // The tests' deliveries are the same actions, but not called reminders.
    await textMatching(page.locator('tr[data-action="webhook.sent"]').nth(1), /Webhook test sent/);
    await textMatching(page.locator('tr[data-action="webhook.failed"]').first(), /Webhook test failed/);
    await screenshots(page, "audit-webhook");
    await remember(page);

    // Replace opens the field (focused) and Cancel goes back to the button, keyboard only.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Account" }).click();
    await page.getByRole("button", { name: "Replace" }).press("Enter");
    await page.getByLabel("New webhook URL").waitFor();
    await page.waitForFunction(() => document.activeElement?.id === "webhook-url");
    await page.getByRole("button", { name: "Cancel" }).press("Enter");
    await page.waitForFunction(() => document.activeElement?.id === "webhook-replace");

    // Remove it (confirmed), keyboard only: back to the empty state, focus on the URL field.
    await page.getByRole("button", { name: "Remove", exact: true }).press("Enter");
    const confirm = page.getByRole("dialog", { name: "Remove the reminder webhook?" });
    await confirm.getByRole("button", { name: "Remove webhook" }).press("Enter");
    await confirm.waitFor({ state: "hidden" });
    await textMatching(section.locator(".notice"), /Webhook removed/);
    await page.getByLabel("Webhook URL", { exact: true }).waitFor();
    await page.waitForFunction(() => document.activeElement?.id === "webhook-url");
    expect(await page.getByRole("button", { name: "Send test" }).count()).toBe(0);
    await remember(page);
    await page.goto("/audit");
    await page.locator('tr[data-action="webhook.updated"]').first().waitFor();
    await remember(page);

    for (const html of pagesSeen) {
      expect(html).not.toContain(secret);
      expect(html).not.toContain(hidden);
      expect(html).not.toContain("/services/T000/B000");
    }
    for (const r of receiver.received) expect(textOf(r)).not.toContain(secret);
    expect(problems).toEqual([]);
  });
});
