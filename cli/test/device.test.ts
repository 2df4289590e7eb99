// `cvw login` against the real wallet: the device code, approval (or denial) by the signed-in
// person through the wallet's approval API, the token stored with mode 0600 and used after.
// A wallet too old to serve device sign-in is stood in for by a server that answers 404.
import { statSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Account,
  cvw,
  type Home,
  rest,
  type Services,
  signUp,
  startCvw,
  startServices,
  tempHome,
  waitFor,
} from "./support/services.ts";

let services: Services;
let account: Account;
let home: Home;

beforeAll(async () => {
  services = await startServices();
  account = await signUp(services.url);
  home = tempHome(services.url);
});

afterAll(async () => {
  home?.remove();
  await services?.stop();
});

/** Starts `cvw login`, returns it and the user code once printed. */
async function startLogin(args: string[] = []) {
  const running = startCvw(["login", "--no-browser", ...args], home);
  await waitFor(running.stderr, "approve this sign-in at");
  const code = /one-time code: (\S+)/.exec(running.stderr())?.[1];
  if (!code) throw new Error(`no user code in: ${running.stderr()}`);
  return { running, code };
}

describe("cvw login", () => {
  test("a wallet without device sign-in: a clear message", async () => {
    const old = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((done) => old.listen(0, "127.0.0.1", done));
    const url = `http://127.0.0.1:${(old.address() as AddressInfo).port}`;
    try {
      const r = await cvw(["login", "--no-browser"], { ...home, env: { ...home.env, CVW_URL: url } });
      expect(r.code).toBe(4);
      expect(r.stderr).toBe(`cvw: device sign-in is not served by the wallet at ${url}\n`);
    } finally {
      old.close();
    }
  });

  test("approved in the browser: the token is stored (0600) and used", async () => {
    const { running, code } = await startLogin(["--name", "laptop cvw"]);
    const who = await rest(services.url, "GET", `/api/device/requests/${code}`, undefined, account);
    expect(who.status).toBe(200);
    expect(JSON.stringify(who.body)).toContain("cvw");
    const ok = await rest(services.url, "POST", `/api/device/requests/${code}/approve`, {}, account);
    expect(ok.status).toBe(200);
    const r = await running.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`as ${account.email}`);
    const file = join(home.configDir, "credentials.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const me = await cvw(["whoami", "--json"], home);
    expect(JSON.parse(me.stdout)).toMatchObject({ user: { email: account.email }, tokenSource: "file" });
  });

  test("denied in the browser: exit 3 with a clear message", async () => {
    const { running, code } = await startLogin();
    const denied = await rest(services.url, "POST", `/api/device/requests/${code}/deny`, {}, account);
    expect(denied.status).toBe(200);
    const r = await running.done;
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("the sign-in was denied in the browser");
  });

  test("polling faster than the interval is answered slow_down", async () => {
    const form = (fields: Record<string, string>) => ({
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    });
    const code = (await (await fetch(`${services.url}/oauth/device/code`, form({ client_id: "cvw" }))).json()) as {
      device_code: string;
    };
    const poll = {
      grant_type: "urn:ietf:params:oauth:grant-type:device_code",
      device_code: code.device_code,
      client_id: "cvw",
    };
    const answers: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${services.url}/oauth/token`, form(poll));
      answers.push(((await res.json()) as { error: string }).error);
    }
    expect(answers).toContain("slow_down");
  });
});
