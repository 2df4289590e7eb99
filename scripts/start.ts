// `npm start`: build what needs building, then run the crypto service and the wallet on
// their embedded defaults (SQLite and a local master key under ./data), wait until the
// wallet is ready and print its address. Ctrl-C stops both, gracefully.
//
// The crypto service's bearer token is generated here on first run (32 random bytes, file
// mode 0600) beside the two data directories, and handed to both services by path, never
// through argv or the environment's value, so it does not show up in `ps`.
//
// Signals: the services run in process groups of their own, so a terminal's Ctrl-C (sent to
// the whole foreground group) reaches only this script, which forwards one SIGTERM to each.
// Were they in our group they would get the terminal's SIGINT and then our SIGTERM, and take
// the second as "exit now" instead of stopping gracefully.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, parse, resolve } from "node:path";
import { root } from "./workspaces.ts";

const say = (line: string) => console.log(`[cv-wallet] ${line}`);
const env: NodeJS.ProcessEnv = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", TURBO_NO_UPDATE_NOTIFIER: "1" };

// The services run with their own package as working directory: make the operator's
// (possibly relative) paths absolute first.
const dataDir = join(root, "data");
env.CRYPTO_DATA_DIR = resolve(env.CRYPTO_DATA_DIR || join(dataDir, "crypto"));
env.WALLET_DATA_DIR = resolve(env.WALLET_DATA_DIR || join(dataDir, "wallet"));
if (env.CRYPTO_SERVICE_TOKEN_FILE) env.CRYPTO_SERVICE_TOKEN_FILE = resolve(env.CRYPTO_SERVICE_TOKEN_FILE);
env.CRYPTO_SERVICE_TOKEN_FILE ??= join(tokenDir(env.CRYPTO_DATA_DIR, env.WALLET_DATA_DIR), "service-token");
if (!env.CRYPTO_SERVICE_TOKEN && !existsSync(env.CRYPTO_SERVICE_TOKEN_FILE)) {
  mkdirSync(dirname(env.CRYPTO_SERVICE_TOKEN_FILE), { recursive: true, mode: 0o700 });
  writeFileSync(env.CRYPTO_SERVICE_TOKEN_FILE, randomBytes(32).toString("base64url"), { mode: 0o600, flag: "wx" });
  say(`generated the crypto service token in ${env.CRYPTO_SERVICE_TOKEN_FILE}`);
}

/**
 * Where the generated token lives: the folder holding both data directories (./data by
 * default), or, when they share none but the filesystem root, the crypto one's parent.
 */
function tokenDir(cryptoDir: string, walletDir: string): string {
  let common = dirname(cryptoDir);
  while (common !== dirname(common) && !`${dirname(walletDir)}/`.startsWith(`${common}/`)) common = dirname(common);
  return common === parse(common).root ? dirname(cryptoDir) : common;
}

if (env.CVW_START_BUILD === "0") {
  say("CVW_START_BUILD=0: not building (the web UI is served from web/build if it exists)");
} else {
  say("building (turbo; cached when nothing changed)");
  const build = spawnSync("turbo", ["run", "build", "--output-logs=errors-only"], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    env,
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const services = ["crypto", "wallet"].filter((name) => existsSync(join(root, "services", name, "src", "main.ts")));
const children = new Map<string, ChildProcess>();
let stopping = false;

for (const name of services) {
  say(`starting the ${name} service`);
  const child = spawn(process.execPath, ["src/main.ts"], {
    cwd: join(root, "services", name),
    stdio: ["ignore", "inherit", "inherit"],
    env,
    // Its own process group: the terminal's Ctrl-C is not delivered to it (see the top).
    detached: true,
  });
  children.set(name, child);
  child.on("exit", (code, signal) => {
    children.delete(name);
    const how = signal ?? `exit ${code}`;
    if (!stopping) {
      say(`the ${name} service stopped (${how}); stopping the rest`);
      stop(1);
    } else {
      say(`the ${name} service stopped (${how})`);
      if (code !== 0) process.exitCode = 1;
      if (children.size === 0) process.exit(process.exitCode ?? 0);
    }
  });
}

/** One SIGTERM per service, however many signals arrive (npm may forward the terminal's too). */
function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  for (const child of children.values()) child.kill("SIGTERM");
  if (children.size === 0) process.exit(code);
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));
process.on("SIGHUP", () => stop(0));
// Detached children outlive us unless told: if this script dies of an error, stop them too.
process.on("exit", () => {
  for (const child of children.values()) child.kill("SIGTERM");
});

if (children.has("wallet")) {
  const address = env.WALLET_HTTP_ADDR ?? "127.0.0.1:8080";
  const deadline = Date.now() + 60_000;
  while (!stopping && Date.now() < deadline) {
    const ready = await fetch(`http://${address}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) {
      say(`cv-wallet is ready: open http://${address} (Ctrl-C stops it)`);
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  if (!stopping && Date.now() >= deadline) say(`the wallet is not ready after 60 s; see its log above`);
}
