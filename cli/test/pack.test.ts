// The package as npm users get it: packed, installed from the tarball into an empty folder
// (no workspace around it), `cvw --version` on Node 24 and on Node 20, and a small
// TypeScript program that type-checks against the shipped types and gets a key.
import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { reportSkip } from "@cv-wallet/common/testing/skips";
import { afterAll, beforeAll, expect, test } from "vitest";
import pkg from "../package.json" with { type: "json" };
import { CLI_ROOT, createKey, createToken, rest, type Services, signUp, startServices } from "./support/services.ts";

const ROOT = join(CLI_ROOT, "..");
// npm, the prepack build and the installed bin all run on the Node running this suite.
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}` };
let dir: string;
let services: Services;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cvw-pack-"));
  execFileSync("npm", ["pack", "--pack-destination", dir], { cwd: CLI_ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
  const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"))!;
  const app = join(dir, "app");
  execFileSync("mkdir", [app]);
  writeFileSync(join(app, "package.json"), '{ "name": "app", "private": true, "type": "module" }\n');
  execFileSync(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", join(dir, tarball)],
    { cwd: app, env, encoding: "utf8" },
  );
  services = await startServices();
}, 600_000);

afterAll(async () => {
  await services?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the installed cvw prints its version (Node 24)", () => {
  const out = execFileSync(join(dir, "app/node_modules/.bin/cvw"), ["--version"], { env, encoding: "utf8" });
  expect(out).toBe(`${pkg.version}\n`);
  expect(existsSync(join(dir, "app/node_modules/@cv-wallet"))).toBe(false);
});

test("the installed cvw runs on Node 20", async () => {
  const node20 = "/usr/bin/node";
  const version = existsSync(node20) ? execFileSync(node20, ["--version"], { encoding: "utf8" }).trim() : "";
  if (!version.startsWith("v20.")) {
    reportSkip("cli pack on Node 20", `no Node 20 at ${node20} (found ${version || "nothing"})`);
    return;
  }
  const bin = join(dir, "app/node_modules/cv-wallet/bin/cvw.js");
  expect(execFileSync(node20, [bin, "--version"], { encoding: "utf8" })).toBe(`${pkg.version}\n`);
  // And it talks to the wallet (fetch-based Connect transport) on Node 20 too.
  const account = await signUp(services.url);
  const { secret } = await createToken(services.url, account);
  const { stdout } = await promisify(execFile)(node20, [bin, "keys", "--json"], {
    env: { PATH: env.PATH, HOME: dir, CVW_URL: services.url, CVW_TOKEN: secret },
    encoding: "utf8",
  });
  expect(JSON.parse(stdout)).toEqual([]);
});

test("a TypeScript program type-checks against the shipped types and gets a key", async () => {
  const app = join(dir, "app");
  copyFileSync(join(CLI_ROOT, "test/fixtures/get-key.ts"), join(app, "get-key.ts"));
  writeFileSync(
    join(app, "tsconfig.json"),
    JSON.stringify({
      extends: join(CLI_ROOT, "test/fixtures/tsconfig.json"),
      compilerOptions: { typeRoots: [join(ROOT, "node_modules/@types")] },
      files: ["get-key.ts"],
    }),
  );
  execFileSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], {
    cwd: app,
    encoding: "utf8",
  });

  const account = await signUp(services.url);
  const { secret } = await createToken(services.url, account);
  await createKey(services.url, account, { provider: "openai", name: "main", key: "sk-lib-0123456789abcdef" });
  // Not execFileSync: the wallet answering the program runs in this process.
  const { stdout: out } = await promisify(execFile)(process.execPath, ["get-key.ts"], {
    cwd: app,
    env: { PATH: env.PATH, HOME: app, CVW_URL: services.url, CVW_TOKEN: secret },
    encoding: "utf8",
  });
  expect(JSON.parse(out)).toEqual({ key: "sk-lib-0123456789abcdef", names: ["main"], mistral: "missing (not_found)" });
  const audit = await rest(services.url, "GET", "/api/audit?action=key.retrieved", undefined, account);
  expect(audit.body.events[0].userAgent).toMatch(/^cv-git\/9\.9\.9 /);
}, 300_000);
