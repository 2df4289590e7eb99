// What a new user tripped over, in a real browser against the real services: keys filed under
// the wrong provider, custom endpoints, pasted whitespace, reminders, finding, importing and
// exporting keys, the audit log's labels, range and export, the 375 px layout, and the polish
// items. Every key here is an obviously fake test key (sk-test-…, sk-ant-test-…), so the
// screenshots (web/test-results/, also copied to web/docs/ for the README) show no real secret.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { reportSkip } from "@cv-wallet/common/testing/skips";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  chromiumPath,
  haveChromium,
  launch,
  NARROW,
  resultsDir,
  screenshot,
  screenshots,
  WIDE,
} from "./support/browser.ts";
import { type FakeProviders, startFakeProviders } from "./support/fake-providers.ts";
import { type Stack, startStack } from "./support/stack.ts";
import { addKey, countBecomes, daysFromNow, focusedId, keyRow, rowNames, signUp, textMatching } from "./support/ui.ts";

if (!haveChromium)
  reportSkip("web browser suite (keys and audit)", `no Chromium at ${chromiumPath} (set CHROMIUM_PATH)`);

const PASSWORD = "correct horse battery staple";

describe.skipIf(!haveChromium)("keys and audit log in Chromium", () => {
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
    context = await browser.newContext({ viewport: WIDE, baseURL: stack.origin, acceptDownloads: true });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.origin });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    return async () => {
      if (task.result?.state === "fail") {
        await screenshot(page, `failure-${task.name.slice(0, 40).replace(/\W+/g, "-")}`).catch(() => undefined);
        const main = await page.evaluate(() => document.querySelector("main")?.textContent ?? "").catch(() => "?");
        console.error(`failed at ${page.url()}: ${main.replace(/\s+/g, " ").slice(0, 500)}`);
      }
      await context.close();
      expect(problems).toEqual([]);
    };
  });

  const email = (what: string) => `e2e-${what}-${Date.now()}@example.com`;

  it("offers the switch for a mis-filed key, marks it on the row in every browser, and Edit moves it", async () => {
    await signUp(page, email("misfiled"), PASSWORD);
    await page.getByRole("button", { name: "Add key" }).first().click();
    const dialog = page.getByRole("dialog", { name: "Add key" });
    await dialog.getByLabel("Provider", { exact: true }).selectOption("openai");
    await dialog.getByLabel("Name", { exact: true }).fill("misfiled");
    // Pasted with a leading space and a trailing line break: trimmed, not refused.
    await dialog.getByLabel("API key", { exact: true }).fill("  sk-ant-test-misfiled0000000000Zq9w\n");
    await textMatching(dialog.locator(".mismatch"), /looks like an Anthropic key, but\s+OpenAI is selected/);
    await dialog.getByRole("button", { name: "Switch to Anthropic" }).waitFor();
    await screenshot(page, "add-key-mismatch", true);
    await dialog.getByRole("button", { name: "Switch to Anthropic" }).click();
    expect(await dialog.getByLabel("Provider", { exact: true }).inputValue()).toBe("anthropic");
    await countBecomes(dialog.locator(".mismatch"), 0);
    expect(await focusedId(page)).toBe("key-provider");

    // Saved under OpenAI anyway: the wallet warns, and the row keeps saying so.
    await dialog.getByLabel("Provider", { exact: true }).selectOption("openai");
    await dialog.getByLabel("Check the key with OpenAI when saving").uncheck();
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.waitFor({ state: "hidden" });
    const row = keyRow(page, "misfiled");
    await textMatching(row, /••••Zq9w/);
    await textMatching(row.locator("[data-mismatch]"), /looks like Anthropic/);
    await textMatching(page.locator(".messages"), /“sk-ant-”/);
    // "Not checked yet", one wording, for a key saved without a check.
    await textMatching(row.locator(".c-status"), /^\s*not checked yet\s*$/);
    await screenshots(page, "keys-mismatch");

    // The hint is the wallet's, not this browser's: a fresh browser context (no storage) shows it too.
    const other = await browser.newContext({ viewport: WIDE, baseURL: stack.origin });
    await other.addCookies(await context.cookies());
    const otherPage = await other.newPage();
    await otherPage.goto("/");
    await textMatching(keyRow(otherPage, "misfiled").locator("[data-mismatch]"), /looks like Anthropic/);
    await other.close();

    // Edit: the provider is a real choice; the stored key's mismatch is offered as a switch.
    await page.getByRole("button", { name: "Edit misfiled" }).click();
    const edit = page.getByRole("dialog", { name: "Edit key “misfiled”" });
    expect(await edit.locator("#key-provider").evaluate((el) => el.tagName)).toBe("SELECT");
    await textMatching(edit.locator(".mismatch"), /looks like an Anthropic key, but\s+OpenAI is selected/);
    // Changing only the name does not ask the provider again: no check offered, none sent.
    expect(await edit.getByLabel(/^Check the/).count()).toBe(0);
    await edit.getByLabel("API key", { exact: true }).fill("sk-test-replacement0000");
    await edit.getByLabel("Check the new key with OpenAI when saving").waitFor();
    await edit.getByLabel("API key", { exact: true }).fill("");
    await screenshot(page, "edit-key-dialog", true);
    await edit.getByLabel("Name", { exact: true }).fill("misfiled-renamed");
    await edit.getByRole("button", { name: "Save" }).click();
    await edit.waitFor({ state: "hidden" });
    await textMatching(keyRow(page, "misfiled-renamed").locator(".c-status"), /^\s*not checked yet\s*$/);
    await textMatching(keyRow(page, "misfiled-renamed").locator("[data-mismatch]"), /looks like Anthropic/);

    // Edit again and take the switch: the key moves, checked with its new provider.
    await page.getByRole("button", { name: "Edit misfiled-renamed" }).click();
    const move = page.getByRole("dialog", { name: "Edit key “misfiled-renamed”" });
    await move.getByRole("button", { name: "Switch to Anthropic" }).click();
    expect(await move.getByLabel("Provider", { exact: true }).inputValue()).toBe("anthropic");
    await textMatching(move.locator("#key-provider-hint"), /moves from OpenAI to Anthropic/);
    await move.getByLabel("Check the key with Anthropic when saving").waitFor();
    await screenshot(page, "edit-key-move", true);
    await move.getByRole("button", { name: "Save" }).click();
    await move.waitFor({ state: "hidden" });
    const moved = keyRow(page, "misfiled-renamed");
    // Grouped by provider: the key now sits under Anthropic, and OpenAI's group is gone.
    await textMatching(page.locator("main"), /Anthropic\s*1 key\s*misfiled-renamed/);
    expect(await page.locator("main").textContent()).not.toMatch(/OpenAI\s*1 key/);
    await countBecomes(moved.locator("[data-mismatch]"), 0);
    await textMatching(moved.locator(".c-status"), /valid/);
  });

  it("moves a mis-filed key from its page, and shows tool use by token apart from reveals", async () => {
    await signUp(page, email("move-page"), PASSWORD);
    await addKey(page, { provider: "groq", name: "was-openrouter", key: "sk-or-v1-test-moved0000000000Mv01" });
    await page.getByRole("link", { name: "was-openrouter" }).click();
    await textMatching(page.locator("[data-mismatch]"), /Saved as Groq, but it starts like an OpenRouter key/);
    await page.getByRole("button", { name: "Move to OpenRouter" }).click();
    await textMatching(page.locator("main"), /“was-openrouter” is now an OpenRouter key/);
    await countBecomes(page.locator("[data-mismatch]"), 0);
    await textMatching(page.locator("h1.title"), /was-openrouter/);

    // Two tokens fetch it, the owner reveals it: the chart splits the fetches by token and
    // counts the reveal apart.
    const tokens: string[] = [];
    for (const name of ["laptop", "ci"]) {
      const res = await page.evaluate(
        async (n) =>
          (
            await fetch("/api/tokens", {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ name: n, scopes: ["keys:read"] }),
            })
          ).json(),
        name,
      );
      tokens.push(res.secret as string);
    }
    const fetchKey = (token: string) =>
      fetch(`${stack.origin}/api/keys/provider/openrouter`, { headers: { authorization: `Bearer ${token}` } });
    for (const token of [tokens[0]!, tokens[0]!, tokens[1]!]) expect((await fetchKey(token)).status).toBe(200);
    await page.getByRole("button", { name: "Reveal", exact: true }).click();
    const reveal = page.getByRole("dialog", { name: "Key “was-openrouter”" });
    await reveal.getByRole("button", { name: "Done" }).click();
    await textMatching(page.getByTestId("usage-count"), /^3$/);
    await textMatching(page.getByTestId("reveal-count"), /Revealed by you once/);
    await textMatching(
      page.getByTestId("usage-summary"),
      /^3 retrievals in the last 30 days.*By token: laptop 2, ci 1\./,
    );
    await textMatching(page.getByTestId("reveal-summary"), /^1 reveal by you in this period/);
    expect(await page.locator("rect.bar").count()).toBe(2);
    await screenshots(page, "key-usage-by-token");
  });

  it("marks the field in error and moves focus to it; custom endpoints: local URLs, docs, base URL, footer", async () => {
    await signUp(page, email("custom"), PASSWORD);
    await page.getByRole("button", { name: "Add key" }).first().click();
    const dialog = page.getByRole("dialog", { name: "Add key" });

    // No name: the name field is marked and focused.
    await dialog.getByLabel("API key", { exact: true }).fill("sk-test-nonamekey0001");
    await dialog.getByRole("button", { name: "Save" }).click();
    await textMatching(dialog.getByRole("alert"), /Give the key a name/);
    expect(await focusedId(page)).toBe("key-name");
    expect(await dialog.getByLabel("Name", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    // A space inside the key (not around it): the key field.
    await dialog.getByLabel("Name", { exact: true }).fill("spaced");
    await dialog.getByLabel("API key", { exact: true }).fill("sk-test-has a-space");
    await dialog.getByRole("button", { name: "Save" }).click();
    await textMatching(dialog.getByRole("alert"), /space or line break in the middle/);
    expect(await focusedId(page)).toBe("key-secret");
    expect(await dialog.getByLabel("Name", { exact: true }).getAttribute("aria-invalid")).toBe("false");
    await screenshot(page, "add-key-field-error", true);

    // Custom: no OpenAI docs link, a word about local endpoints, the footer on screen at 1280×800.
    await page.setViewportSize({ width: 1280, height: 800 });
    await dialog.getByLabel("Provider", { exact: true }).selectOption("custom");
    expect(await dialog.locator('a[href*="openai.com"]').count()).toBe(0);
    await textMatching(dialog.locator("#key-provider-hint"), /OpenAI-compatible endpoint/);
    await dialog.getByLabel("Name", { exact: true }).fill("lm-studio");
    await dialog.getByLabel("API key", { exact: true }).fill("sk-test-localendpoint0001");
    await dialog.getByLabel("Base URL").fill("http://localhost:1234/v1");
    await textMatching(dialog.locator("#key-base-url-private"), /WALLET_ALLOW_PRIVATE_BASE_URLS=true/);
    await dialog.getByLabel("Expires on").fill("2020-01-31");
    await textMatching(dialog.locator("#key-expires-past"), /date has passed/);
    const save = dialog.getByRole("button", { name: "Save" });
    const box = await save.boundingBox();
    expect(box).not.toBeNull();
    expect((box?.y ?? 0) + (box?.height ?? 0)).toBeLessThanOrEqual(800);
    expect(await dialog.evaluate((d) => d.scrollHeight > d.clientHeight)).toBe(true);
    await page.screenshot({ path: resolve(resultsDir, "add-key-custom-1280x800.png") });
    await dialog.getByLabel("Expires on").fill("");
    // The wallet refuses it (its operator did not allow private URLs); the UI says who can.
    await save.click();
    await textMatching(dialog.getByRole("alert"), /WALLET_ALLOW_PRIVATE_BASE_URLS=true/);
    expect(await focusedId(page)).toBe("key-base-url");
    await page.setViewportSize(WIDE);

    // Two custom endpoints are told apart by their base URL in the list.
    await dialog.getByLabel("Base URL").fill("https://203.0.114.10/v1");
    await dialog.getByLabel("Check the key with Custom (OpenAI-compatible) when saving").uncheck();
    await save.click();
    await dialog.waitFor({ state: "hidden" });
    await page.getByRole("button", { name: "Add key" }).first().click();
    await dialog.getByLabel("Provider", { exact: true }).selectOption("custom");
    await dialog.getByLabel("Name", { exact: true }).fill("gateway");
    await dialog.getByLabel("API key", { exact: true }).fill("sk-test-gatewayendpoint02");
    await dialog.getByLabel("Base URL").fill("https://203.0.114.20/v1");
    await dialog.getByLabel("Check the key with Custom (OpenAI-compatible) when saving").uncheck();
    await save.click();
    await dialog.waitFor({ state: "hidden" });
    await page.getByLabel("Sort by").selectOption("name");
    await textMatching(keyRow(page, "lm-studio").locator(".c-provider"), /Custom/);
    await textMatching(keyRow(page, "lm-studio").locator(".base-url"), /203\.0\.114\.10\/v1/);
    await textMatching(keyRow(page, "gateway").locator(".base-url"), /203\.0\.114\.20\/v1/);
    await screenshots(page, "keys-custom");

    // A host name is judged by its form when saved (it need not resolve from the wallet yet);
    // checked, a host that cannot be reached is "unreachable" whichever way the check ran.
    await page.getByRole("button", { name: "Add key" }).first().click();
    await dialog.getByLabel("Provider", { exact: true }).selectOption("custom");
    await dialog.getByLabel("Name", { exact: true }).fill("not-yet-up");
    await dialog.getByLabel("API key", { exact: true }).fill("sk-test-notyetup000000003");
    await dialog.getByLabel("Base URL").fill("https://llm.does-not-exist.invalid/v1");
    await save.click();
    await dialog.waitFor({ state: "hidden" });
    const notYet = keyRow(page, "not-yet-up");
    await textMatching(notYet.locator(".base-url"), /llm\.does-not-exist\.invalid\/v1/);
    await textMatching(notYet.locator(".c-status"), /unreachable/);
    await page.getByRole("button", { name: "Check now: not-yet-up" }).click();
    await textMatching(page.locator("main"), /Checked “not-yet-up”: unreachable/i);
    await textMatching(notYet.locator(".c-status"), /unreachable/);
  });

  it("reminds, finds, sorts, groups, imports, exports, makes default and copies the variable line", {
    timeout: 90_000,
  }, async () => {
    await signUp(page, email("finding"), PASSWORD);
    // An empty wallet has nothing to filter.
    await textMatching(page.getByRole("heading", { level: 2 }), /No keys yet/);
    expect(await page.getByLabel("Needs attention").count()).toBe(0);

    // Import from a pasted .env: recognised by name and by prefix, previewed masked.
    const openai = "sk-proj-test-imported000000000001Ab1";
    const anthropic = "sk-ant-test-imported00000000002Cd2";
    const groq = "gsk_test_imported0000000000003Ef3";
    await page.getByRole("button", { name: "Import .env" }).first().click();
    const imp = page.getByRole("dialog", { name: "Import keys from a .env file" });
    await imp
      .getByLabel("Paste a .env file")
      .fill(
        [
          "# from the old laptop",
          `OPENAI_API_KEY=${openai}`,
          `export ANTHROPIC_API_KEY=" ${anthropic} "`,
          `MY_GROQ=${groq}`,
          "DATABASE_URL=postgres://localhost/app",
        ].join("\n"),
      );
    await imp.getByRole("button", { name: "Preview" }).click();
    await textMatching(imp.locator('tr[data-variable="OPENAI_API_KEY"]'), /by its name/);
    await textMatching(imp.locator('tr[data-variable="MY_GROQ"]'), /by the key's prefix/);
    await textMatching(imp.locator('tr[data-variable="DATABASE_URL"]'), /not recognised/);
    expect(await imp.getByLabel("Import DATABASE_URL").isChecked()).toBe(false);
    const preview =
      (await imp.innerHTML()) +
      (await imp
        .locator("input, textarea")
        .evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value).join(" ")));
    for (const secret of [openai, anthropic, groq]) expect(preview).not.toContain(secret);
    await textMatching(imp.locator('tr[data-variable="OPENAI_API_KEY"]'), /••••1Ab1/);
    await screenshot(page, "import-preview", true);
    await imp.getByRole("button", { name: "Import 3 keys" }).click();
    await countBecomes(imp.locator('[data-result="ok"]'), 3);
    await imp.getByRole("button", { name: "Done" }).click();
    await keyRow(page, "my-groq").waitFor();
    await textMatching(keyRow(page, "anthropic-api-key"), /••••2Cd2/);

    // A first key for a provider becomes its default; the dialog says so.
    await page.getByRole("button", { name: "Add key" }).first().click();
    const add = page.getByRole("dialog", { name: "Add key" });
    await add.getByLabel("Provider", { exact: true }).selectOption("mistral");
    await textMatching(add.locator("#key-default-hint"), /first Mistral AI key, so it becomes the default/);
    await add.getByLabel("Provider", { exact: true }).selectOption("openai");
    await textMatching(add.locator("#key-default-hint"), /first key becomes its default/);
    await add.getByRole("button", { name: "Cancel" }).click();

    // Reminders: one key expiring in 5 days, one expired (the form warns about the past date),
    // one the provider has revoked.
    await addKey(page, {
      provider: "openai",
      name: "openai-old",
      key: "sk-proj-test-expiring0000000004Gh4",
      expiresOn: daysFromNow(5),
    });
    await page.getByRole("button", { name: "Add key" }).first().click();
    await add.getByLabel("Provider", { exact: true }).selectOption("together");
    await add.getByLabel("Name", { exact: true }).fill("together-expired");
    await add.getByLabel("API key", { exact: true }).fill("tgp_v1_test_expired000000005Ij5");
    await add.getByLabel("Expires on").fill(daysFromNow(-3));
    await textMatching(add.locator("#key-expires-past"), /date has passed/);
    await add.getByRole("button", { name: "Save" }).click();
    await add.waitFor({ state: "hidden" });
    providers.revoke(groq);
    await page.getByRole("button", { name: "Check now: my-groq" }).click();
    await textMatching(keyRow(page, "my-groq").locator("[data-status]"), /^invalid$/);
    const banner = page.getByTestId("attention-banner");
    await textMatching(
      banner,
      /3 keys need attention: 1 expired, 1 expiring within 14 days, 1 invalid or out of quota\./,
    );
    await textMatching(page.getByTestId("attention-count"), /^\s*3\s+need attention\s*$/);
    // The count follows to other pages.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Access tokens" }).click();
    await textMatching(page.getByTestId("attention-count"), /^\s*3/);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: /^Keys/ }).click();
    await banner.getByRole("button", { name: "Show them" }).click();
    await countBecomes(page.locator("tr[data-key-name]"), 3);
    await page.getByLabel("Needs attention").uncheck();

    // Search by name or provider.
    await page.getByLabel("Search").fill("anthropic");
    expect(await rowNames(page)).toEqual(["anthropic-api-key"]);
    await page.getByLabel("Search").fill("openai");
    await countBecomes(page.locator("tr[data-key-name]"), 2);
    await page.getByLabel("Search").fill("nothing like it");
    await textMatching(page.getByRole("heading", { level: 2 }), /No key matches/);
    await page.getByLabel("Search").fill("");

    // Sorted by provider (the default) the keys are grouped; by name, expiry or last use not.
    await countBecomes(page.locator("tbody[data-provider-group]"), 4);
    await textMatching(page.locator('tbody[data-provider-group="openai"] tr.group'), /OpenAI\s*2 keys/);
    expect(await rowNames(page)).toEqual([
      "anthropic-api-key",
      "my-groq",
      "openai-api-key",
      "openai-old",
      "together-expired",
    ]);
    await page.getByLabel("Sort by").selectOption("name");
    expect(await rowNames(page)).toEqual(
      ["anthropic-api-key", "my-groq", "openai-api-key", "openai-old", "together-expired"].sort(),
    );
    expect(await page.locator("tbody[data-provider-group]").count()).toBe(0);
    await page.getByLabel("Sort by").selectOption("expiry");
    expect((await rowNames(page)).slice(0, 2)).toEqual(["together-expired", "openai-old"]);
    await page.getByLabel("Sort by").selectOption("provider");
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await screenshots(page, "keys-grouped");

    // Make default from the row.
    await textMatching(keyRow(page, "openai-api-key"), /default/);
    await page.getByRole("button", { name: "Make default: openai-old" }).click();
    await textMatching(keyRow(page, "openai-old").locator(".badge.accent"), /default/);
    await countBecomes(keyRow(page, "openai-api-key").locator(".badge.accent"), 0);

    // The template holds variable names, never a value.
    const [template] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export .env template" }).click(),
    ]);
    expect(template.suggestedFilename()).toBe("cv-wallet.env.example");
    const text = readFileSync((await template.path()) ?? "", "utf8");
    for (const v of ["OPENAI_API_KEY=", "ANTHROPIC_API_KEY=", "GROQ_API_KEY=", "TOGETHER_API_KEY="]) {
      expect(text).toContain(`\n${v}\n`);
    }
    expect(text).not.toMatch(/^[A-Z_]+=\S/m);
    for (const secret of [openai, anthropic, groq]) expect(text).not.toContain(secret);

    // The key's page: copy the OPENAI_API_KEY=… line, after a reveal.
    await page.getByRole("link", { name: "openai-api-key" }).click();
    await page.getByRole("button", { name: "Copy OPENAI_API_KEY=… line" }).click();
    const reveal = page.getByRole("dialog", { name: "Key “openai-api-key”" });
    await textMatching(reveal.getByTestId("revealed-env-line"), new RegExp(`^OPENAI_API_KEY=${openai}$`));
    await reveal.getByRole("button", { name: "Copy OPENAI_API_KEY line" }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`OPENAI_API_KEY=${openai}`);
    await screenshot(page, "reveal-env-line", true);
    await reveal.getByRole("button", { name: "Done" }).click();
    await screenshots(page, "key-detail-variable");
  });

  it("labels, filters by date and exports the audit log; compact at 375 px; the polish items", {
    timeout: 90_000,
  }, async () => {
    const who = email("audit");
    await signUp(page, who, PASSWORD);
    await addKey(page, { provider: "openai", name: "audited", key: "sk-proj-test-audited00000000000006Kl6" });
    await addKey(page, { provider: "anthropic", name: "second", key: "sk-ant-test-second0000000000007Mn7" });
    await page.getByRole("button", { name: "Reveal audited" }).click();
    await page.getByRole("dialog", { name: "Key “audited”" }).getByRole("button", { name: "Done" }).click();

    // 375 px: a compact card per key, the actions behind one menu button.
    await page.setViewportSize(NARROW);
    const card = keyRow(page, "audited");
    const height = (await card.boundingBox())?.height ?? 999;
    expect(height).toBeLessThan(150);
    const menu = page.getByRole("button", { name: "Actions for audited" });
    await menu.click();
    expect(await menu.getAttribute("aria-expanded")).toBe("true");
    await page.getByRole("button", { name: "Reveal", exact: true }).waitFor();
    await page.screenshot({ path: resolve(resultsDir, "keys-row-menu-375.png") });
    await page.keyboard.press("Escape");
    expect(await menu.getAttribute("aria-expanded")).toBe("false");
    expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Actions for audited");
    await menu.click();
    await page.getByRole("button", { name: "Edit", exact: true }).click();
    await page.getByRole("dialog", { name: "Edit key “audited”" }).getByRole("button", { name: "Cancel" }).click();
    await page.setViewportSize(WIDE);

    // Audit: labels for people, every action that appears in the filter, a date range, exports.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
    const revealed = page.locator('tr[data-action="key.revealed"]').first();
    await textMatching(revealed, /Key revealed/);
    await textMatching(page.locator('tr[data-action="key.created"]').first(), /Key added/);
    const options = await page
      .getByLabel("Action")
      .locator("option")
      .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    const seen = await page
      .locator("tr[data-action]")
      .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-action") ?? ""));
    for (const action of seen) expect(options).toContain(action);
    expect(options).toContain("keys.listed");

    await page.setViewportSize(NARROW);
    const auditHeight = (await revealed.boundingBox())?.height ?? 999;
    expect(auditHeight).toBeLessThan(110);
    await page.setViewportSize(WIDE);
    await screenshots(page, "audit-labelled");

    const shownRows = await page.locator("tr[data-action]").count();
    const [csv] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export CSV" }).click(),
    ]);
    const csvText = readFileSync((await csv.path()) ?? "", "utf8");
    const csvLines = csvText.trimEnd().split("\r\n");
    expect(csvLines[0]).toBe("time,action,label,actor,target,details,address,userAgent");
    expect(csvLines).toHaveLength(shownRows + 1);
    const [json] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export JSON" }).click(),
    ]);
    const rows = JSON.parse(readFileSync((await json.path()) ?? "", "utf8")) as { action: string; label: string }[];
    expect(rows).toHaveLength(shownRows);
    expect(rows.find((r) => r.action === "key.revealed")?.label).toBe("Key revealed");

    // A range that ends before today shows nothing; today shows the same rows.
    await page.getByLabel("To").fill(daysFromNow(-1));
    await textMatching(page.locator("main .card"), /No events match the filter \(until \d{4}-\d{2}-\d{2}\)/);
    await page.getByLabel("To").fill("");
    await page.getByLabel("From").fill(daysFromNow(0));
    await countBecomes(page.locator("tr[data-action]"), shownRows);
    await page.getByLabel("Action").selectOption("key.revealed");
    await countBecomes(page.locator("tr[data-action]"), 1);
    const [filtered] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Export JSON" }).click(),
    ]);
    expect(JSON.parse(readFileSync((await filtered.path()) ?? "", "utf8"))).toHaveLength(1);

    // Unknown pages and malformed key ids get a page that says what happened.
    await page.goto("/no-such-page");
    await page.getByRole("heading", { name: "Page not found" }).waitFor();
    await screenshots(page, "not-found");
    await page.goto("/keys/not%20an%20id!");
    await page.getByRole("heading", { name: "No such key" }).waitFor();
    await page.goto("/keys/0123456789abcdef01234567");
    await page.getByRole("heading", { name: "No such key" }).waitFor();

    // Tokens: scope labels without nested brackets, Escape asks before losing the token, one
    // date style for expiries, and a busy button that says what it does.
    await page.goto("/tokens");
    await page.getByRole("button", { name: "Create token" }).click();
    const create = page.getByRole("dialog", { name: "Create access token" });
    const scopes = (await create.locator("fieldset").first().textContent()) ?? "";
    expect(scopes).not.toMatch(/\([^)]*\(/);
    await create.getByLabel("Name").fill("ci");
    await page.route("**/cvwallet.wallet.v1.WalletService/CreateToken", async (route) => {
      await new Promise((r) => setTimeout(r, 600));
      await route.continue();
    });
    await create.getByRole("button", { name: "Create token" }).click();
    await create.getByRole("button", { name: "Creating…" }).waitFor();
    const shown = page.getByRole("dialog", { name: "Your new access token" });
    await shown.getByTestId("token-secret").waitFor();
    await page.keyboard.press("Escape");
    await textMatching(shown.getByRole("alert"), /Close without copying\?/);
    expect(await shown.isVisible()).toBe(true);
    expect(await focusedId(page)).toBe("token-keep-open");
    await shown.getByRole("button", { name: "Keep it open" }).click();
    await page.keyboard.press("Escape");
    await shown.getByRole("button", { name: "Close anyway" }).click();
    await shown.waitFor({ state: "hidden" });
    await textMatching(
      page.locator('tr[data-token-name="ci"] td[data-label="Expires"]'),
      /^\s*on \d{4}-\d{2}-\d{2}\s*$/,
    );

    // A wrong password keeps focus on the password field, selected for retyping.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/signin/);
    await page.getByLabel("Email").fill(who);
    await page.getByLabel("Password").fill("not the password at all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await textMatching(page.getByRole("alert"), /Wrong email or password/);
    expect(await focusedId(page)).toBe("password");
    expect(await page.getByLabel("Password").getAttribute("aria-invalid")).toBe("true");
  });
});
