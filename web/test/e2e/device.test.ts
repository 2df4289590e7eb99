// Device sign-in in a real browser: a tool asks for a code over HTTP (as `cvw login` does),
// the person opens the link, signs in, sees who asks, narrows and approves on /device; the
// tool's poll then gets a token with exactly what was approved, and the key's page lists the
// tool's fetch. A second request is typed in by keyboard and denied. A team owner grants a
// team token, which reaches the team's key and not the owner's own; a viewer is told what such
// a token can do, and a person removed from the team meanwhile gets the server's answer.
// Debian's Chromium against the real services, as the rest of the browser suite.
import { reportSkip } from "@cv-wallet/common/testing/skips";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chromiumPath, haveChromium, launch, NARROW, screenshot, screenshots, WIDE } from "./support/browser.ts";
import { type Stack, startStack } from "./support/stack.ts";
import { textMatching } from "./support/ui.ts";

if (!haveChromium) reportSkip("web device sign-in suite", `no Chromium at ${chromiumPath} (set CHROMIUM_PATH)`);

const GRANT = "urn:ietf:params:oauth:grant-type:device_code";
const PASSWORD = "correct horse battery staple";
const TOOL = { "cvw-client": "cvw/0.1.0", "cvw-host": "e2e-laptop", "cvw-repository": "github.com/acme/app" };

interface Started {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
}

describe.skipIf(!haveChromium)("device sign-in in Chromium", () => {
  let stack: Stack;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const email = `device-${Date.now()}@example.com`;
  let cookie = "";

  async function post(path: string, params: Record<string, string>, headers: Record<string, string> = {}) {
    const res = await fetch(`${stack.origin}${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(params).toString(),
    });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  }

  const startDevice = async (params: Record<string, string> = {}) => {
    const r = await post("/oauth/device/code", { client_id: "cvw", ...params }, TOOL);
    expect(r.status).toBe(200);
    return r.body as unknown as Started;
  };
  const poll = (deviceCode: string) =>
    post("/oauth/token", { grant_type: GRANT, device_code: deviceCode, client_id: "cvw" });

  /** Signs a new person up over the API; returns their session cookie. */
  async function signUpApi(who: string): Promise<string> {
    const res = await fetch(`${stack.origin}/api/auth/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: who, password: PASSWORD }),
    });
    expect(res.status).toBe(201);
    return res.headers.get("set-cookie")?.split(";")[0] ?? "";
  }

  /** A WalletService call in Connect's JSON form, as the signed-in person with `session`. */
  async function rpc<T = Record<string, unknown>>(method: string, body: unknown, session: string): Promise<T> {
    const res = await fetch(`${stack.origin}/cvwallet.wallet.v1.WalletService/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: session, origin: stack.origin },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method}: ${res.status} ${JSON.stringify(json)}`);
    return json as T;
  }

  /** Opens the tool's link signed out and signs in on the way, landing on the request. */
  async function openSignedIn(s: Started, who: string) {
    await page.goto(s.verification_uri_complete);
    await page.waitForURL("**/signin?next=*");
    await page.getByLabel("Email").fill(who);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`**/device?code=${s.user_code}`);
    const card = page.locator("[data-device-request]");
    await textMatching(card.getByRole("heading"), /cvw on e2e-laptop wants access/);
    return card;
  }

  const fetchKey = (token: string, query = "") =>
    fetch(`${stack.origin}/api/keys/provider/openai${query}`, {
      headers: { authorization: `Bearer ${token}`, ...TOOL },
    });

  /** Polls like a tool would until the answer is no longer pending (the interval is 5 s). */
  async function pollUntilDecided(deviceCode: string): Promise<Record<string, string>> {
    for (let i = 0; i < 6; i++) {
      const r = await poll(deviceCode);
      if (r.body.error !== "authorization_pending" && r.body.error !== "slow_down") return r.body;
      await new Promise((resolve) => setTimeout(resolve, 5_500));
    }
    throw new Error("still pending");
  }

  beforeAll(async () => {
    // Key checks are not part of this suite: they point at a port nothing listens on.
    stack = await startStack("http://127.0.0.1:9");
    browser = await launch();
    const res = await fetch(`${stack.origin}/api/auth/signup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(res.status).toBe(201);
    cookie = res.headers.get("set-cookie")?.split(";")[0] ?? "";
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  beforeEach(async ({ task }) => {
    context = await browser.newContext({ viewport: WIDE, baseURL: stack.origin });
    context.setDefaultTimeout(10_000);
    page = await context.newPage();
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    return async () => {
      if (task.result?.state === "fail") {
        await screenshot(page, `failure-device-${task.name.slice(0, 30).replace(/\W+/g, "-")}`).catch(() => undefined);
        const main = await page.evaluate(() => document.querySelector("main")?.textContent ?? "").catch(() => "?");
        console.error(`failed at ${page.url()}: ${main.replace(/\s+/g, " ").slice(0, 500)}`);
      }
      await context.close();
      expect(problems).toEqual([]);
    };
  });

  it("a tool's request, opened from its link while signed out, narrowed and approved", {
    timeout: 90_000,
  }, async () => {
    const s = await startDevice({ scope: "keys:read keys:write", providers: "openai anthropic" });
    expect((await poll(s.device_code)).body.error).toBe("authorization_pending");

    // Signed out: the link leads through sign-in and back, code and all.
    await page.goto(s.verification_uri_complete);
    await page.waitForURL("**/signin?next=*");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`**/device?code=${s.user_code}`);

    const card = page.locator("[data-device-request]");
    await textMatching(card.getByRole("heading"), /cvw on e2e-laptop wants access/);
    await textMatching(card, /github\.com\/acme\/app/);
    await textMatching(card, new RegExp(s.user_code));
    await textMatching(card, /keys:read, keys:write ·\s+OpenAI, Anthropic/);
    await screenshots(page, "device-request");

    // Narrow: no keys:write, no Anthropic, 7 days.
    await card.getByRole("checkbox", { name: /keys:write/ }).uncheck();
    await card.getByRole("checkbox", { name: "Anthropic" }).uncheck();
    await card.getByLabel("Token expires in").selectOption("7");
    await card.getByRole("button", { name: "Approve" }).click();
    await textMatching(page.getByRole("status"), /Approved\. cvw on e2e-laptop receives its token/);
    await page.setViewportSize(NARROW);
    await screenshot(page, "device-approved-375");
    await page.setViewportSize(WIDE);

    const got = await pollUntilDecided(s.device_code);
    expect(got.token_type).toBe("Bearer");
    expect(got.scope).toBe("keys:read");
    const token = got.access_token!;
    const me = await fetch(`${stack.origin}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(await me.json()).toMatchObject({ authMethod: "token", scopes: ["keys:read"] });
    expect(Number(got.expires_in)).toBeLessThanOrEqual(7 * 86_400);
    // A second exchange of the same code is refused.
    expect((await poll(s.device_code)).body.error).toBe("invalid_grant");

    // The tool fetches a key; the key's page shows who fetched it.
    const created = await fetch(`${stack.origin}/api/keys`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie, origin: stack.origin },
      body: JSON.stringify({ provider: "openai", name: "device-e2e", key: "sk-proj-deviceE2eKey000000000000001" }),
    });
    expect(created.status).toBe(201);
    const keyId = ((await created.json()) as { key: { id: string } }).key.id;
    const fetched = await fetch(`${stack.origin}/api/keys/provider/openai`, {
      headers: { authorization: `Bearer ${token}`, ...TOOL },
    });
    expect(fetched.status).toBe(200);
    await page.goto(`/keys/${keyId}`);
    const fetches = page.getByRole("region", { name: "Recent fetches" });
    await textMatching(fetches, /cvw on e2e-laptop, github\.com\/acme\/app, just now/);
    await screenshots(page, "key-recent-fetches");

    // The token is listed under its client and host.
    await page.goto("/tokens");
    await textMatching(page.locator('[data-token-name="cvw on e2e-laptop"]'), /keys:read/);
  });

  it("a code typed by keyboard, looked up and denied; unknown codes are explained", { timeout: 60_000 }, async () => {
    await page.goto("/signin");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Keys", exact: true }).waitFor();

    await page.goto("/device");
    const input = page.getByLabel("Code");
    await input.focus();
    await page.keyboard.type("bbbbbbbb");
    expect(await input.inputValue()).toBe("BBBB-BBBB");
    await page.keyboard.press("Enter");
    await textMatching(page.getByRole("alert"), /No sign-in is waiting for this code/);
    await screenshots(page, "device-unknown-code");

    const s = await startDevice();
    await input.fill("");
    await input.focus();
    await page.keyboard.type(s.user_code.replace("-", "").toLowerCase());
    await page.keyboard.press("Enter");
    const card = page.locator("[data-device-request]");
    await textMatching(card.getByRole("heading"), /cvw on e2e-laptop wants access/);
    // Keyboard only: Deny is reachable by Tab from the expiry select.
    await card.getByLabel("Token expires in").focus();
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe("Deny");
    await page.keyboard.press("Enter");
    await textMatching(page.getByRole("status"), /Denied\. cvw on e2e-laptop is told so/);

    const r = await poll(s.device_code);
    expect(r.status).toBe(400);
    expect(r.body.error).toBe("access_denied");

    // Opening the same code again says it was decided.
    await page.goto(`/device?code=${s.user_code}`);
    await textMatching(page.getByRole("status"), /already denied/);
  });

  it("a team owner grants a team token: it fetches the team's key, never the owner's own", {
    timeout: 90_000,
  }, async () => {
    const ownerEmail = `team-owner-${Date.now()}@example.com`;
    const owner = await signUpApi(ownerEmail);
    const teamSecret = "sk-proj-deviceTeamKey0000000000000000001";
    const personalSecret = "sk-proj-devicePersonalKey000000000000001";
    const { team } = await rpc<{ team: { id: string } }>("CreateTeam", { name: "Platform" }, owner);
    await rpc("CreateTeam", { name: "Design" }, owner);
    await rpc(
      "CreateKey",
      { provider: "openai", name: "team-openai", key: teamSecret, isDefault: true, teamId: team.id },
      owner,
    );
    await rpc("CreateKey", { provider: "openai", name: "mine", key: personalSecret, isDefault: true }, owner);

    const s = await startDevice({ scope: "keys:read" });
    const card = await openSignedIn(s, ownerEmail);
    const grant = card.getByRole("group", { name: "Grant access to" });
    await textMatching(grant, /A team token reaches that team's keys only/);
    // Personal by default; both teams offered, each with the owner's role.
    expect(await grant.getByRole("radio", { name: "Personal keys" }).isChecked()).toBe(true);
    await textMatching(grant, /Platform \(owner\)/);
    await textMatching(grant, /Design \(owner\)/);
    await grant.getByRole("radio", { name: /Platform/ }).check();
    await screenshots(page, "device-team-picker");

    await card.getByRole("button", { name: "Approve" }).click();
    await textMatching(
      page.getByRole("status"),
      /Approved for the team Platform\. cvw on e2e-laptop receives its token/,
    );
    await textMatching(page.getByRole("status"), /reaches Platform's keys only/);

    const got = await pollUntilDecided(s.device_code);
    expect(got.token_type).toBe("Bearer");
    const token = got.access_token!;
    // The team's default key, not the owner's personal default for the same provider.
    const fetched = await fetchKey(token);
    expect(fetched.status).toBe(200);
    expect(((await fetched.json()) as { key: string }).key).toBe(teamSecret);
    // The personal key is out of reach by name as well.
    expect((await fetchKey(token, "?name=mine")).status).toBe(404);
  });

  it("a viewer is told what a team token can do; a person removed meanwhile gets the server's answer", {
    timeout: 90_000,
  }, async () => {
    const ownerEmail = `team-owner2-${Date.now()}@example.com`;
    const viewerEmail = `team-viewer-${Date.now()}@example.com`;
    const owner = await signUpApi(ownerEmail);
    const { team } = await rpc<{ team: { id: string } }>("CreateTeam", { name: "Research" }, owner);
    await rpc(
      "CreateKey",
      {
        provider: "openai",
        name: "research-openai",
        key: "sk-proj-deviceResearchKey00000000000001",
        isDefault: true,
        teamId: team.id,
      },
      owner,
    );
    const { code } = await rpc<{ code: string }>(
      "CreateInvitation",
      { teamId: team.id, email: viewerEmail, role: "viewer" },
      owner,
    );
    const viewer = await signUpApi(viewerEmail);
    await rpc("AcceptInvitation", { code }, viewer);

    // A viewer may grant a team token (the wallet allows every member to), and the page says
    // that it lists the team's keys but never fetches them, which the token then bears out.
    const first = await startDevice({ scope: "keys:read" });
    let card = await openSignedIn(first, viewerEmail);
    let grant = card.getByRole("group", { name: "Grant access to" });
    await textMatching(grant, /Research \(viewer: the token can list the team's keys but never fetch them\)/);
    await grant.getByRole("radio", { name: /Research/ }).check();
    await card.getByRole("button", { name: "Approve" }).click();
    await textMatching(page.getByRole("status"), /Approved for the team Research\./);
    const got = await pollUntilDecided(first.device_code);
    expect((await fetchKey(got.access_token!)).status).toBe(403);

    // The owner removes the viewer while a second request is on screen with Research chosen.
    const second = await startDevice({ scope: "keys:read" });
    await page.goto(`/device?code=${second.user_code}`);
    card = page.locator("[data-device-request]");
    grant = card.getByRole("group", { name: "Grant access to" });
    await grant.getByRole("radio", { name: /Research/ }).check();
    const { members } = await rpc<{ members: { userId: string; email: string }[] }>(
      "ListTeamMembers",
      { teamId: team.id },
      owner,
    );
    const member = members.find((m) => m.email === viewerEmail);
    await rpc("RemoveTeamMember", { teamId: team.id, userId: member!.userId }, owner);
    await card.getByRole("button", { name: "Approve" }).click();
    await textMatching(page.getByRole("alert"), /You are no longer a member of Research/);
    // The team leaves the choice; the request is still pending and can be granted personally.
    expect(await grant.count()).toBe(0);
    await card.getByRole("button", { name: "Approve" }).click();
    await textMatching(page.getByRole("status"), /^\s*Approved\. cvw on e2e-laptop/);
    const personal = await pollUntilDecided(second.device_code);
    expect(personal.token_type).toBe("Bearer");
  });
});
