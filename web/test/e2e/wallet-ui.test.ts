// The wallet in a real browser: Debian's Chromium (playwright-core) against the real crypto and
// wallet services on loopback, serving the built UI. Screenshots of each page at 1440 and
// 375 px go to web/test-results/.
import { reportSkip } from "@cv-wallet/common/testing/skips";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chromiumPath, haveChromium, launch, screenshot, screenshots, WIDE } from "./support/browser.ts";
import { type FakeProviders, startFakeProviders } from "./support/fake-providers.ts";
import { type Stack, startStack } from "./support/stack.ts";
import { addKey, countBecomes, daysFromNow, keyRow, textMatching } from "./support/ui.ts";

if (!haveChromium) reportSkip("web browser suite", `no Chromium at ${chromiumPath} (set CHROMIUM_PATH)`);

describe.skipIf(!haveChromium)("wallet UI in Chromium", () => {
  let providers: FakeProviders;
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    providers = await startFakeProviders();
    stack = await startStack(providers.baseUrl);
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await providers?.close();
  });

  beforeEach(async ({ task }) => {
    context = await browser.newContext({ viewport: WIDE, baseURL: stack.origin });
    // Shorter than the test's own timeout, so a stuck step names its locator.
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    return async () => {
      if (task.result?.state === "fail") {
        // What the browser showed when the test failed: a screenshot and the page's text.
        await screenshot(page, `failure-${task.name.slice(0, 40).replace(/\W+/g, "-")}`).catch(() => undefined);
        const main = await page.evaluate(() => document.querySelector("main")?.textContent ?? "").catch(() => "?");
        console.error(`failed at ${page.url()}: ${main.replace(/\s+/g, " ").slice(0, 500)}`);
      }
      await context.close();
      expect(problems).toEqual([]);
    };
  });

  async function signUp(email: string, password: string) {
    await page.goto("/");
    await page.waitForURL("**/signin");
    await page.getByRole("link", { name: "Create an account" }).click();
    // Client-side navigation: wait for the new page, or the fill lands in the old form.
    await page.waitForURL("**/signup");
    await page.getByRole("button", { name: "Create account" }).waitFor();
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Keys", exact: true }).waitFor();
  }

  async function fetchKey(token: string, provider: string): Promise<Response> {
    return fetch(`${stack.origin}/api/keys/provider/${provider}`, { headers: { authorization: `Bearer ${token}` } });
  }

  it("signs up, stores, edits, reveals, uses through a token, revokes, deletes and signs out", {
    timeout: 60_000,
  }, async () => {
    const email = `e2e-${Date.now()}@example.com`;
    const password = "correct horse battery staple";
    const openai = "sk-proj-e2eOpenAiKey0000000000000001A7x";
    const anthropic = "sk-ant-api03-e2eAnthropicKey000000002B8y";
    const openrouter = "sk-or-v1-e2eOpenRouterKey0000000003C9z";

    // Sign-up errors are shown next to the form.
    await page.goto("/signup");
    await page.getByRole("button", { name: "Create account" }).waitFor();
    await screenshots(page, "signup");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("short");
    await page.getByRole("button", { name: "Create account" }).click();
    await textMatching(page.getByRole("alert"), /at least 12 characters/);

    await signUp(email, password);
    await textMatching(page.getByRole("heading", { level: 2 }), /No keys yet/);
    await screenshots(page, "keys-empty");

    // A key for each of three providers; the first is the default and expires in 5 days.
    await addKey(page, {
      provider: "openai",
      name: "openai-main",
      key: openai,
      isDefault: true,
      expiresOn: daysFromNow(5),
    });
    await addKey(page, { provider: "anthropic", name: "anthropic-main", key: anthropic, isDefault: true });
    await addKey(page, { provider: "openrouter", name: "openrouter-main", key: openrouter, isDefault: true });

    // Masked: dots and the last 4, never the key.
    const row = keyRow(page, "openai-main");
    await textMatching(row, /••••1A7x/);
    await textMatching(keyRow(page, "anthropic-main"), /••••2B8y/);
    await textMatching(row, /default/);
    await textMatching(row, /expires in [45] days/);
    await textMatching(keyRow(page, "openrouter-main"), /credits left: 4\.90 of 10\.00/);
    const html = await page.content();
    for (const secret of [openai, anthropic, openrouter]) expect(html).not.toContain(secret);
    await screenshots(page, "keys");

    // A pasted key whose prefix belongs to another provider is flagged, not blocked.
    await page.getByRole("button", { name: "Add key" }).first().click();
    const addDialog = page.getByRole("dialog", { name: "Add key" });
    await addDialog.getByLabel("Provider", { exact: true }).selectOption("openai");
    await addDialog.getByLabel("API key", { exact: true }).fill("sk-ant-api03-somethingelse");
    await textMatching(addDialog.locator(".warning"), /looks like an Anthropic key/);
    await screenshot(page, "add-key-dialog", true);
    await addDialog.getByRole("button", { name: "Cancel" }).click();
    await addDialog.waitFor({ state: "hidden" });

    // Edit the name; the stored key is never shown and an empty field keeps it.
    await page.getByRole("button", { name: "Edit openai-main" }).click();
    const editDialog = page.getByRole("dialog", { name: "Edit key “openai-main”" });
    expect(await editDialog.getByLabel("API key", { exact: true }).inputValue()).toBe("");
    await editDialog.getByLabel("Name", { exact: true }).fill("openai-work");
    await editDialog.getByRole("button", { name: "Save" }).click();
    await editDialog.waitFor({ state: "hidden" });
    await keyRow(page, "openai-work").waitFor();
    await countBecomes(keyRow(page, "openai-main"), 0);

    // Reveal shows the plaintext, for a while, to its owner.
    await page.getByRole("button", { name: "Reveal openai-work" }).click();
    const reveal = page.getByRole("dialog", { name: "Key “openai-work”" });
    await textMatching(reveal.getByTestId("revealed-key"), new RegExp(`^${openai}$`));
    await reveal.getByRole("button", { name: "Copy key" }).waitFor();
    await screenshot(page, "reveal-dialog", true);
    await reveal.getByRole("button", { name: "Done" }).click();

    // A reveal is not usage: it is counted apart.
    await page.getByRole("link", { name: "openai-work" }).click();
    const before = Number(await textMatching(page.getByTestId("usage-count"), /^\d+$/));
    expect(before).toBe(0);
    await textMatching(page.getByTestId("reveal-count"), /Revealed by you once/);
    await textMatching(page.getByTestId("usage-summary"), /No retrievals in the last 30 days/);
    await textMatching(page.getByTestId("reveal-summary"), /^1 reveal by you/);

    // A token for cv-git, shown once with the curl line.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Access tokens" }).click();
    await page.getByRole("button", { name: "Create token" }).click();
    const tokenDialog = page.getByRole("dialog", { name: "Create access token" });
    await tokenDialog.getByLabel("Name").fill("laptop cv-git");
    await tokenDialog.getByRole("button", { name: "Create token" }).click();
    const shown = page.getByRole("dialog", { name: "Your new access token" });
    const token = await textMatching(shown.getByTestId("token-secret"), /^cvw_\S+$/);
    const curl = await textMatching(shown.getByTestId("token-curl"), /^curl /);
    expect(curl).toBe(`curl -H "Authorization: Bearer ${token}" ${stack.origin}/api/keys/provider/openai`);
    await screenshot(page, "token-dialog", true);
    // For the README: the same dialog with the token swapped for an obviously fake one, so no
    // live-looking token is published (this one dies with the test's wallet anyway).
    await page.evaluate((secret) => {
      const fake = "cvw_TEST0example0not0a0real0token0000000";
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        n.textContent = (n.textContent ?? "").replaceAll(secret, fake).replaceAll(secret.slice(0, 8), fake.slice(0, 8));
      }
    }, token);
    await screenshot(page, "docs-token-dialog", true);
    await shown.getByRole("button", { name: "Done" }).click();
    await textMatching(page.locator('tr[data-token-name="laptop cv-git"]'), /never/);
    await screenshots(page, "tokens");

    // cv-git's call, twice, with the token.
    for (let i = 0; i < 2; i++) {
      const res = await fetchKey(token, "openai");
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ key: openai });
    }

    // The token's last use, the key's usage count and its chart all move.
    await page.reload();
    await textMatching(page.locator('tr[data-token-name="laptop cv-git"]'), /just now|min ago/);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" }).click();
    const after = before + 2;
    await textMatching(keyRow(page, "openai-work").locator('td[data-label="Usage"]'), new RegExp(`^\\s*${after}\\s*$`));
    await page.getByRole("link", { name: "openai-work" }).click();
    await textMatching(
      page.getByTestId("usage-summary"),
      new RegExp(`^${after} retrievals in the last 30 days.*By token: laptop cv-git ${after}\\.`),
    );
    // Today's bar (the last one) carries the new count.
    expect(await page.locator("rect.bar").last().getAttribute("data-count")).toBe(String(after));
    await screenshots(page, "key-detail");

    // The audit log names the token as the actor of the retrievals, and the reveal.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
    await textMatching(page.locator('tr[data-action="key.retrieved"]').first(), /laptop cv-git/);
    await page.locator('tr[data-action="key.revealed"]').first().waitFor();
    await screenshots(page, "audit");
    await page.getByLabel("Action").selectOption("key.revealed");
    await textMatching(page.locator("tbody"), /key\.revealed/);
    await countBecomes(page.locator('tr[data-action="key.retrieved"]'), 0);

    // Revoke the token: cv-git's call fails at once.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Access tokens" }).click();
    await page.getByRole("button", { name: "Revoke laptop cv-git" }).click();
    const revokeDialog = page.getByRole("dialog", { name: "Revoke token “laptop cv-git”?" });
    await revokeDialog.getByRole("button", { name: "Revoke token" }).click();
    await revokeDialog.waitFor({ state: "hidden" });
    const refused = await fetchKey(token, "openai");
    expect(refused.status).toBe(401);

    // Delete a key, confirming by its name.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys" }).click();
    await page.getByRole("button", { name: "Delete anthropic-main" }).click();
    const deleteDialog = page.getByRole("dialog", { name: "Delete key “anthropic-main”?" });
    await textMatching(deleteDialog, /“anthropic-main”/);
    await deleteDialog.getByRole("button", { name: "Delete key" }).click();
    await deleteDialog.waitFor({ state: "hidden" });
    await keyRow(page, "openai-work").waitFor();
    await countBecomes(keyRow(page, "anthropic-main"), 0);

    // Sign out; a wrong password is told apart next to the form.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL("**/signin");
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await screenshots(page, "signin");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("not the password at all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await textMatching(page.getByRole("alert"), /Wrong email or password/);

    // Signed out, a page sends you to sign in and back to it afterwards.
    await page.goto("/tokens");
    await page.waitForURL("**/signin?next=%2Ftokens");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL("**/tokens");
    await page.getByRole("heading", { name: "Access tokens", exact: true }).waitFor();
  });

  it("shows a key valid, then invalid after Check now once the provider revokes it, under Needs attention", async () => {
    const key = "sk-proj-e2eValidationKey00000000000004D0w";
    await signUp(`e2e-validate-${Date.now()}@example.com`, "another long passphrase");
    // Keyboard only: open the dialog, fill it and submit without the mouse; Escape closes it
    // and focus returns to the button that opened it.
    const addButton = page.getByRole("button", { name: "Add key" }).first();
    await addButton.focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Add key" });
    await dialog.waitFor();
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe("Add key");
    await page.keyboard.press("Enter");
    await dialog.waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("key-provider");
    await page.keyboard.press("Tab"); // the provider's docs link
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("key-name");
    await page.keyboard.type("checked");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("key-secret");
    await page.keyboard.type(key);
    await page.keyboard.press("Enter");
    await dialog.waitFor({ state: "hidden" });
    const row = keyRow(page, "checked");
    await row.waitFor();
    // Grouped by provider (the default order): the group's heading names it.
    await textMatching(page.locator('tbody[data-provider-group="openai"]'), /OpenAI/);
    await textMatching(row.locator("[data-status]"), /^valid$/);
    await textMatching(row, /checked just now/);
    expect(providers.seen).toContain(key);

    await page.getByLabel("Needs attention").check();
    await textMatching(page.getByRole("heading", { level: 2 }), /Nothing needs attention/);
    await page.getByLabel("Needs attention").uncheck();

    providers.revoke(key);
    await page.getByRole("button", { name: "Check now: checked" }).click();
    await textMatching(keyRow(page, "checked").locator("[data-status]"), /^invalid$/);

    await page.getByLabel("Needs attention").check();
    await textMatching(keyRow(page, "checked").locator("[data-status]"), /^invalid$/);
    await screenshots(page, "keys-needs-attention");
  });
});
