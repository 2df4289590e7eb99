// Teams in a real browser (Debian's Chromium, the real services, the built UI): an owner
// creates a team, stores a key and invites by link; the invitee, without an account, opens the
// link, creates one from the sign-in page and lands back on the invitation, accepts, and the
// key is fetched with the invitee's team token; lowering the role hides Reveal, removing the
// member cuts the token off. A `next` that leaves the site is ignored by both auth pages.
// Screenshots at 1440 and 375 px go to web/test-results/.
import { reportSkip } from "@cv-wallet/common/testing/skips";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumPath, haveChromium, launch, screenshots, WIDE } from "./support/browser.ts";
import { type FakeProviders, startFakeProviders } from "./support/fake-providers.ts";
import { type Stack, startStack } from "./support/stack.ts";
import { textMatching } from "./support/ui.ts";

if (!haveChromium) reportSkip("web browser suite (teams)", `no Chromium at ${chromiumPath} (set CHROMIUM_PATH)`);

describe.skipIf(!haveChromium)("teams in Chromium", () => {
  let providers: FakeProviders;
  let stack: Stack;
  let browser: Browser;
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
    expect(problems).toEqual([]);
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: WIDE, baseURL: stack.origin });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    return page;
  }

  async function signUp(page: Page, email: string, next = "/") {
    await page.goto(next);
    await page.waitForURL("**/signin**");
    await page.getByRole("link", { name: "Create an account" }).click();
    await page.waitForURL("**/signup**");
    await page.getByRole("button", { name: "Create account" }).waitFor();
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("correct horse battery staple");
    await page.getByRole("button", { name: "Create account" }).click();
  }

  it("invitation → acceptance → the shared key fetched by the invitee's token; role and removal take effect", {
    timeout: 90_000,
  }, async () => {
    const owner = await newPage();
    const ownerEmail = `owner-${Date.now()}@example.com`;
    const devEmail = `dev-${Date.now()}@example.com`;
    const shared = "sk-proj-teamSharedKey00000000000000001Zz";
    await signUp(owner, ownerEmail);
    await owner.getByRole("heading", { name: "Keys", exact: true }).waitFor();

    await owner.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Teams" }).click();
    await owner.getByLabel("Team name").fill("Platform");
    await owner.getByRole("button", { name: "Create team" }).click();
    await owner.getByRole("heading", { name: "Platform", level: 1 }).waitFor();

    await owner.getByLabel("Provider").selectOption("openai");
    await owner.getByLabel("Key name").fill("shared-openai");
    await owner.getByLabel("API key").fill(shared);
    await owner.getByRole("button", { name: "Add key" }).click();
    // The key's row (the team's audit on the same page names the key too).
    await owner.locator('td[data-label="Name"]', { hasText: "shared-openai" }).waitFor();

    await owner.getByLabel("Email").fill(devEmail);
    await owner.getByLabel("Role", { exact: true }).selectOption("member");
    await owner.getByRole("button", { name: "Create invitation" }).click();
    const link = await textMatching(owner.getByTestId("invite-link"), /\/invite\/[\w-]+$/);
    await screenshots(owner, "team-owner");

    // The invitee opens the link signed out and is sent to sign in, with the way back kept;
    // "Create an account" carries it along, so the new account lands on the invitation.
    const dev = await newPage();
    const path = new URL(link).pathname;
    const backTo = (page: string) => (u: URL) => u.pathname === page && u.searchParams.get("next") === path;
    await dev.goto(path);
    await dev.waitForURL(backTo("/signin"));
    await textMatching(dev.getByTestId("invitation-hint"), /You were invited to a team/);
    await screenshots(dev, "team-invite-signin");
    await dev.getByRole("link", { name: "Create an account" }).click();
    await dev.waitForURL(backTo("/signup"));
    await dev.getByRole("button", { name: "Create account" }).waitFor();
    await textMatching(dev.getByTestId("invitation-hint"), /come back to the invitation afterwards/);
    // And back again: "Sign in" keeps it too.
    expect(await dev.getByRole("link", { name: "Sign in" }).getAttribute("href")).toBe(
      `/signin?next=${encodeURIComponent(path)}`,
    );
    await dev.getByLabel("Email").fill(devEmail);
    await dev.getByLabel("Password").fill("correct horse battery staple");
    await dev.getByRole("button", { name: "Create account" }).click();
    await dev.waitForURL((u) => u.pathname === path);
    await dev.getByRole("heading", { name: "Join a team" }).waitFor();
    await screenshots(dev, "team-invite");
    await dev.getByRole("button", { name: "Join team" }).click();
    await dev.getByRole("heading", { name: "Platform", level: 1 }).waitFor();
    // The team is now in the invitee's switcher.
    await textMatching(dev.getByLabel("Switch between your keys and a team's"), /Platform \(member\)/);
    await dev.getByRole("button", { name: "Reveal" }).waitFor();
    // A member neither adds keys nor invites.
    expect(await dev.getByRole("button", { name: "Add key" }).count()).toBe(0);
    expect(await dev.getByRole("button", { name: "Create invitation" }).count()).toBe(0);

    await dev.getByLabel("Token name").fill("dev laptop");
    await dev.getByRole("button", { name: "Create team token" }).click();
    const token = await textMatching(dev.getByTestId("team-token"), /^cvw_\S+$/);
    await screenshots(dev, "team-member");
    const fetchKey = () =>
      fetch(`${stack.origin}/api/keys/provider/openai`, { headers: { authorization: `Bearer ${token}` } });
    const fetched = await fetchKey();
    expect(fetched.status).toBe(200);
    expect(((await fetched.json()) as { key: string }).key).toBe(shared);

    // The owner makes the invitee a viewer: no Reveal, and the token no longer fetches plaintext.
    await owner.reload();
    await owner.getByLabel(`Role of ${devEmail}`).selectOption("viewer");
    await textMatching(owner.getByRole("status").or(owner.locator(".notice")).first(), /Role changed/);
    await dev.reload();
    await dev.locator('td[data-label="Name"]', { hasText: "shared-openai" }).waitFor();
    expect(await dev.getByRole("button", { name: "Reveal" }).count()).toBe(0);
    expect((await fetchKey()).status).toBe(403);

    // Removed: the token is cut off on its next request; the audit shows who fetched and who removed whom.
    await owner
      .getByRole("row", { name: new RegExp(devEmail) })
      .getByRole("button", { name: "Remove" })
      .click();
    await textMatching(owner.locator(".notice").first(), /removed/);
    expect((await fetchKey()).status).toBe(404);
    await owner.reload();
    await owner.getByRole("heading", { name: "Team audit log" }).waitFor();
    const audit = owner.getByRole("table", { name: "The team's latest events" });
    await audit.getByRole("cell", { name: "team.member.removed" }).waitFor();
    await audit.getByRole("cell", { name: "key.retrieved" }).waitFor();
    await screenshots(owner, "team-audit");
  });

  it("a next that leaves the site is ignored by sign-up and sign-in", { timeout: 60_000 }, async () => {
    const page = await newPage();
    const who = `offsite-${Date.now()}@example.com`;
    await page.goto("/signup?next=//evil.example");
    await page.getByRole("button", { name: "Create account" }).waitFor();
    // The link to the other page does not pass it on either.
    expect(await page.getByRole("link", { name: "Sign in" }).getAttribute("href")).toBe("/signin");
    await page.getByLabel("Email").fill(who);
    await page.getByLabel("Password").fill("correct horse battery staple");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Keys", exact: true }).waitFor();
    expect(new URL(page.url()).origin).toBe(stack.origin);
    expect(new URL(page.url()).pathname).toBe("/");

    await page.context().clearCookies();
    await page.goto("/signin?next=https://evil.example");
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    expect(await page.getByRole("link", { name: "Create an account" }).getAttribute("href")).toBe("/signup");
    await page.getByLabel("Email").fill(who);
    await page.getByLabel("Password").fill("correct horse battery staple");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Keys", exact: true }).waitFor();
    expect(new URL(page.url()).origin).toBe(stack.origin);
    expect(new URL(page.url()).pathname).toBe("/");
    await page.context().close();
  });
});
