// The account page in a real browser: see where the account is signed in, end another
// browser's session, sign out everywhere else, change the password, and delete the account
// with the password. Real crypto and wallet services on loopback, serving the built UI.
import { reportSkip } from "@cv-wallet/common/testing/skips";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath, haveChromium, launch, screenshots, WIDE } from "./support/browser.ts";
import { type FakeProviders, startFakeProviders } from "./support/fake-providers.ts";
import { type Stack, startStack } from "./support/stack.ts";

if (!haveChromium) reportSkip("web account page suite", `no Chromium at ${chromiumPath} (set CHROMIUM_PATH)`);

describe.skipIf(!haveChromium)("account page in Chromium", () => {
  let providers: FakeProviders;
  let stack: Stack;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];

  beforeAll(async () => {
    providers = await startFakeProviders();
    stack = await startStack(providers.baseUrl);
    browser = await launch();
  });
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await stack?.stop();
    await providers?.close();
  });

  async function newPage(userAgent?: string): Promise<Page> {
    const context = await browser.newContext({ viewport: WIDE, baseURL: stack.origin, userAgent });
    context.setDefaultTimeout(10_000);
    contexts.push(context);
    const page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    return page;
  }

  async function signIn(page: Page, email: string, password: string) {
    await page.goto("/signin");
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Keys", exact: true }).waitFor();
  }

  it("lists sessions, ends another, signs out the rest, changes the password and deletes the account", {
    timeout: 90_000,
  }, async () => {
    const email = `account-${Date.now()}@example.com`;
    const password = "correct horse battery staple";
    const newPassword = "a completely new passphrase";
    const signup = await fetch(`${stack.origin}/api/auth/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    expect(signup.status).toBe(201);

    const laptop = await newPage();
    const phone = await newPage(
      "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
    );
    const tablet = await newPage("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0");
    await signIn(laptop, email, password);
    await signIn(phone, email, password);
    await signIn(tablet, email, password);

    await laptop.getByRole("link", { name: "Account" }).click();
    await laptop.getByRole("heading", { name: "Where you're signed in" }).waitFor();
    const rows = laptop.locator("tr[data-session-device]");
    // The sign-up session (no browser) plus three browsers.
    await expect.poll(() => rows.count()).toBe(4);
    await expect.poll(() => laptop.locator("tr", { hasText: "this browser" }).count()).toBe(1);
    await laptop.locator('tr[data-session-device="Safari on iOS"]').waitFor();
    await laptop.locator('tr[data-session-device="Chrome on Linux"]', { hasText: "this browser" }).waitFor();
    await screenshots(laptop, "account");

    // End the phone's session.
    await laptop.getByRole("button", { name: "End session on Safari on iOS" }).click();
    await laptop.getByRole("button", { name: "End session", exact: true }).click();
    await laptop.getByText("Ended the session on Safari on iOS.").waitFor();
    await expect.poll(() => rows.count()).toBe(3);
    await phone.reload();
    await phone.waitForURL("**/signin**");

    // Sign out everywhere else: the tablet is signed out too.
    await laptop.getByRole("button", { name: "Sign out everywhere else" }).click();
    await laptop.getByRole("button", { name: "Sign out other sessions" }).click();
    await laptop.getByText(/Ended 2 other sessions\./).waitFor();
    await expect.poll(() => rows.count()).toBe(1);
    await tablet.reload();
    await tablet.waitForURL("**/signin**");

    // Change the password: the wrong current password is refused, the right one works.
    await laptop.getByLabel("Current password").fill("not my password");
    await laptop.getByLabel("New password").fill(newPassword);
    await laptop.getByRole("button", { name: "Change password" }).click();
    await laptop.getByText("The current password is wrong.").waitFor();
    await laptop.getByLabel("Current password").fill(password);
    await laptop.getByLabel("New password").fill(newPassword);
    await laptop.getByRole("button", { name: "Change password" }).click();
    await laptop.getByText("Password changed.").waitFor();
    await signIn(phone, email, newPassword);

    // Delete the account with the password.
    await laptop.getByLabel(/Type your email address/).fill(email);
    await laptop.getByLabel("Password", { exact: true }).fill(newPassword);
    await laptop.getByRole("button", { name: "Delete account forever" }).click();
    await laptop.waitForURL("**/signin**");
    const gone = await fetch(`${stack.origin}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: newPassword }),
    });
    expect(gone.status).toBe(401);
    expect(problems).toEqual([]);
  });
});
