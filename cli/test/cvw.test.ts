// The real `cvw` process against the real crypto service and wallet: keys into a child's
// environment, exit codes and signals, env output read back by bash and the dotenv package,
// the credentials file, and the token kept out of ps, logs and output.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { parse as parseDotenv } from "dotenv";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type Account,
  closedPort,
  createKey,
  createToken,
  cvw,
  type Home,
  revokeToken,
  type Services,
  signUp,
  startCvw,
  startServices,
  tempHome,
  waitFor,
} from "./support/services.ts";

// Keys with what shells and .env readers treat specially: quotes, $, backslash, #, ;, backticks.
const OPENAI = `sk-it's$HOME"q\\n#x;|&`;
const ANTHROPIC = "sk-ant-$(id)`whoami`'~";
const GROQ = "gsk_plain0123456789abcdef";
const LLAMA = "ll-#not-a-comment=1";
const LLAMA_URL = "http://127.0.0.1:11434/v1";
const GOOGLE = "AIzaSyExampleKey0123456789";

const EXPECTED = {
  OPENAI_API_KEY: OPENAI,
  ANTHROPIC_API_KEY: ANTHROPIC,
  GROQ_API_KEY: GROQ,
  LOCAL_LLAMA_API_KEY: LLAMA,
  LOCAL_LLAMA_BASE_URL: LLAMA_URL,
  GEMINI_API_KEY: GOOGLE,
  GOOGLE_API_KEY: GOOGLE,
};

let services: Services;
let account: Account;
let token: string;
let home: Home;
/** Every secret the suite used; none may reach a log line. */
const secrets: string[] = [];

/** Prints the named variables as JSON from inside the child cvw starts. */
const printEnv = (...names: string[]) => [
  "node",
  "-e",
  `const o={};for(const n of ${JSON.stringify(names)})o[n]=process.env[n]??null;console.log(JSON.stringify(o))`,
];

beforeAll(async () => {
  services = await startServices();
  account = await signUp(services.url);
  token = (await createToken(services.url, account)).secret;
  await createKey(services.url, account, { provider: "openai", name: "main", key: OPENAI, isDefault: true });
  await createKey(services.url, account, { provider: "anthropic", name: "main", key: ANTHROPIC });
  await createKey(services.url, account, { provider: "groq", name: "main", key: GROQ });
  await createKey(services.url, account, { provider: "custom", name: "Local Llama", key: LLAMA, baseUrl: LLAMA_URL });
  await createKey(services.url, account, { provider: "google", name: "g", key: GOOGLE });
  secrets.push(token, OPENAI, ANTHROPIC, GROQ, LLAMA, GOOGLE);
  home = tempHome(services.url, { CVW_TOKEN: token });
});

afterAll(async () => {
  home?.remove();
  await services?.stop();
});

describe("cvw run", () => {
  test("the command sees each key under its variables, and not the wallet token", async () => {
    const r = await cvw(["run", "--", ...printEnv(...Object.keys(EXPECTED), "CVW_TOKEN")], home);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ...EXPECTED, CVW_TOKEN: null });
  });

  test("--provider picks providers; both of a provider's variables are set", async () => {
    const r = await cvw(
      ["run", "--provider", "google", "--", ...printEnv("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY")],
      home,
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      GEMINI_API_KEY: GOOGLE,
      GOOGLE_API_KEY: GOOGLE,
      OPENAI_API_KEY: null,
    });
  });

  test("passes the command's exit code through", async () => {
    const r = await cvw(["run", "--provider", "openai", "--", "node", "-e", "process.exit(7)"], home);
    expect(r.code).toBe(7);
  });

  test("a requested provider without a key stops cvw before the command starts (exit 4)", async () => {
    const marker = join(home.home, "started");
    const r = await cvw(
      ["run", "--provider", "mistral", "--", "node", "-e", `require("fs").writeFileSync(${JSON.stringify(marker)},"")`],
      home,
    );
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("no key stored for mistral");
    expect(readdirSync(home.home)).not.toContain("started");
    const allowed = await cvw(
      ["run", "--provider", "mistral", "--provider", "groq", "--allow-missing", "--", ...printEnv("GROQ_API_KEY")],
      home,
    );
    expect(allowed.code).toBe(0);
    expect(JSON.parse(allowed.stdout)).toEqual({ GROQ_API_KEY: GROQ });
  });

  test("forwards SIGTERM to the command and exits with its code", async () => {
    const running = startCvw(
      [
        "run",
        "--provider",
        "groq",
        "--",
        "node",
        "-e",
        "process.on('SIGTERM',()=>{console.log('child got SIGTERM');process.exit(42)});console.log('ready');setInterval(()=>{},1000)",
      ],
      home,
    );
    await waitFor(running.stdout, "ready");
    running.child.kill("SIGTERM");
    const r = await running.done;
    expect(r.stdout).toContain("child got SIGTERM");
    expect(r.code).toBe(42);
  });

  test("a command killed by a signal gives 128 + the signal's number", async () => {
    const running = startCvw(
      ["run", "--provider", "groq", "--", "node", "-e", "console.log('ready');setInterval(()=>{},1000)"],
      home,
    );
    await waitFor(running.stdout, "ready");
    running.child.kill("SIGTERM");
    expect((await running.done).code).toBe(143);
  });

  test("without a command: exit 2 and the usage", async () => {
    const r = await cvw(["run", "--provider", "openai"], home);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no command to run");
    expect(r.stderr).toContain("Usage: cvw run");
  });

  test("the token is in no process's arguments while cvw and its command run", async () => {
    const running = startCvw(["run", "--", "node", "-e", "console.log('ready');setInterval(()=>{},1000)"], home);
    await waitFor(running.stdout, "ready");
    const ps = execFileSync("ps", ["-eo", "pid,args", "-ww"], { encoding: "utf8" });
    expect(ps).toContain("console.log('ready')");
    expect(ps).not.toContain(token);
    running.child.kill("SIGTERM");
    await running.done;
  });
});

describe("cvw env", () => {
  test("dotenv output reads back exactly with the dotenv package", async () => {
    const r = await cvw(["env"], home);
    expect(r.code).toBe(0);
    expect(parseDotenv(r.stdout)).toEqual(EXPECTED);
  });

  test("shell output sourced by bash gives the exact values", async () => {
    const r = await cvw(["env", "--format", "shell"], home);
    expect(r.code).toBe(0);
    const file = join(home.home, "vars.sh");
    writeFileSync(file, r.stdout);
    const names = Object.keys(EXPECTED);
    const out = execFileSync(
      "bash",
      [
        "-c",
        `set -eu; source "$1"; ${printEnv(...names)
          .map((a) => `'${a.replaceAll("'", `'\\''`)}'`)
          .join(" ")}`,
        "_",
        file,
      ],
      { encoding: "utf8", env: { PATH: process.env.PATH } },
    );
    expect(JSON.parse(out)).toEqual(EXPECTED);
  });

  test("json output parses to the same object; an unknown format is a usage error", async () => {
    const r = await cvw(["env", "--format", "json"], home);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(EXPECTED);
    const bad = await cvw(["env", "--format", "yaml"], home);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--format must be one of dotenv, shell, json");
  });
});

describe("cvw get, keys, whoami", () => {
  test("get prints only the key; --name picks another", async () => {
    await createKey(services.url, account, { provider: "openai", name: "second", key: "sk-second-0123456789" });
    secrets.push("sk-second-0123456789");
    expect(await cvw(["get", "openai"], home)).toMatchObject({ code: 0, stdout: `${OPENAI}\n`, stderr: "" });
    expect(await cvw(["get", "openai", "--name", "second"], home)).toMatchObject({
      code: 0,
      stdout: "sk-second-0123456789\n",
    });
  });

  test("unknown provider: exit 4 with the list of providers", async () => {
    const r = await cvw(["get", "openia"], home);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("unknown provider openia; providers: openai, anthropic, google");
  });

  test("a provider without a key: exit 4", async () => {
    const r = await cvw(["get", "mistral"], home);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("no mistral key stored");
  });

  test("keys lists masked keys only", async () => {
    const r = await cvw(["keys"], home);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Local Llama");
    expect(r.stdout).toContain(`••••${GROQ.slice(-4)}`);
    for (const s of secrets) expect(r.stdout).not.toContain(s);
    const json = await cvw(["keys", "--json", "--provider", "groq"], home);
    expect(JSON.parse(json.stdout)).toMatchObject([{ provider: "groq", name: "main", last4: GROQ.slice(-4) }]);
  });

  test("whoami names the account and where the token came from", async () => {
    const r = await cvw(["whoami", "--json"], home);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      url: services.url,
      user: { email: account.email },
      scopes: ["keys:read"],
      tokenSource: "env",
    });
  });

  test("--help works on every command", async () => {
    for (const command of ["login", "logout", "whoami", "keys", "get", "run", "env"]) {
      const r = await cvw([command, "--help"], home);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: cvw ${command}`);
      expect(r.stdout).toContain("--url URL");
    }
    expect((await cvw(["--version"], home)).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

describe("failures", () => {
  test("wallet down: exit 5, cannot reach the wallet at URL", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = await cvw(["get", "openai", "--url", url], home);
    expect(r.code).toBe(5);
    expect(r.stderr).toBe(`cvw: cannot reach the wallet at ${url}\n`);
  });

  test("revoked token: exit 3, run cvw login — and the token is not in the message", async () => {
    const t = await createToken(services.url, account);
    secrets.push(t.secret);
    await revokeToken(services.url, account, t.id);
    const r = await cvw(["keys"], { env: { ...home.env, CVW_TOKEN: t.secret } });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("the access token has been revoked; run cvw login");
    expect(r.stderr).not.toContain(t.secret);
  });

  test("no token anywhere: exit 3", async () => {
    const { CVW_TOKEN: _, ...env } = home.env;
    const r = await cvw(["keys"], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("not signed in to the wallet at");
  });

  test("rate limited past what is worth waiting for: exit 5 with the wait", async () => {
    const url = await services.startAnotherWallet({ retrievalRateLimitPerMinute: 1 });
    const env = { ...home.env, CVW_URL: url };
    expect((await cvw(["get", "groq"], { env })).code).toBe(0);
    const r = await cvw(["get", "groq"], { env });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/rate limiting this token: .*; try again in \d+ s/);
  });

  test("usage errors: exit 2", async () => {
    expect((await cvw(["frobnicate"], home)).code).toBe(2);
    expect((await cvw(["get"], home)).code).toBe(2);
    expect((await cvw(["keys", "--bogus"], home)).code).toBe(2);
    expect((await cvw(["env", "--all", "--provider", "openai"], home)).code).toBe(2);
  });
});

describe("stored credentials", () => {
  test("a stored token is used; a file others can read is refused, as ssh does", async () => {
    const { CVW_TOKEN: _, ...env } = home.env;
    const dir = join(home.home, "cfg");
    mkdirSync(dir, { mode: 0o700 });
    const file = join(dir, "credentials.json");
    writeFileSync(file, JSON.stringify({ version: 1, wallets: { [services.url]: { token, savedAt: "" } } }), {
      mode: 0o600,
    });
    const stored = { ...env, CVW_CONFIG_DIR: dir };
    // A session bus that does not answer: the keychain is given up on and the file used.
    const ok = await cvw(["whoami", "--json"], {
      env: { ...stored, DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(dir, "no-bus")}` },
    });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).tokenSource).toBe("file");

    chmodSync(file, 0o644);
    const refused = await cvw(["whoami"], { env: stored });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`permissions 0644 for '${file}' are too open`);
    expect(refused.stderr).toContain(`chmod 600 '${file}'`);
    expect(refused.stderr).not.toContain(token);
  });

  test("logout revokes a token that may revoke tokens, and forgets it", async () => {
    const t = await createToken(services.url, account, ["keys:read", "tokens:write"]);
    secrets.push(t.secret);
    const { CVW_TOKEN: _, ...env } = home.env;
    const { saveToken } = await import("../src/credentials.ts");
    const saved = await saveToken(services.url, t.secret, { env, store: "file" });
    expect(saved.store).toBe("file");
    expect(statSync(saved.path!).mode & 0o777).toBe(0o600);
    expect(statSync(home.configDir).mode & 0o777).toBe(0o700);

    const r = await cvw(["logout"], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("the token is revoked");
    expect(JSON.parse(readFileSync(saved.path!, "utf8")).wallets).toEqual({});
    const after = await cvw(["whoami"], { env: { ...env, CVW_TOKEN: t.secret } });
    expect(after.code).toBe(3);
  });

  test("logout revokes even a keys:read token on the wallet (RFC 7009), then forgets it", async () => {
    const t = await createToken(services.url, account, ["keys:read"]);
    secrets.push(t.secret);
    const { CVW_TOKEN: _, ...env } = home.env;
    const { saveToken } = await import("../src/credentials.ts");
    await saveToken(services.url, t.secret, { env, store: "file" });
    const r = await cvw(["logout"], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("the token is revoked");
    const after = await fetch(`${services.url}/api/keys`, { headers: { authorization: `Bearer ${t.secret}` } });
    expect(after.status).toBe(401);
    expect((await cvw(["whoami"], { env })).code).toBe(3);
  });
});

describe("who is asking", () => {
  test("each retrieval's audit event names the client, the host and the repository, without credentials", async () => {
    const repo = join(home.env.HOME!, "app");
    mkdirSync(repo);
    execFileSync("git", ["init", "-q", repo]);
    execFileSync("git", ["-C", repo, "remote", "add", "origin", "https://someone:hunter2@github.com/acme/app.git"]);
    expect((await cvw(["get", "groq"], { env: home.env, cwd: repo })).code).toBe(0);
    const res = await fetch(`${services.url}/api/audit?action=key.retrieved`, {
      headers: { cookie: account.cookie },
    });
    const events = ((await res.json()) as { events: { userAgent: string; details: Record<string, string> }[] }).events;
    expect(events[0]!.userAgent).toMatch(/^cvw\/\d+\.\d+\.\d+ \(cv-wallet\/\d+\.\d+\.\d+\)$/);
    expect(events[0]!.details).toMatchObject({
      client: expect.stringMatching(/^cvw\/\d+\.\d+\.\d+$/),
      host: hostname(),
      repository: "github.com/acme/app",
    });
    expect(JSON.stringify(events)).not.toContain("hunter2");
  });
});

test("no secret reached a log line of either service", () => {
  const logs = services.logs();
  expect(logs).toContain('"level"');
  for (const s of secrets) expect(logs).not.toContain(s);
});
