// `npm start`: build what needs building, then run the crypto service and the wallet on
// their embedded defaults (SQLite and a local master key under ./data), wait until the
// wallet is ready and print its address. Ctrl-C stops both, gracefully.
//
// The crypto service's bearer token is generated here on first run (32 random bytes, file
// mode 0600) and handed to both services by path, never through argv or the environment's
// value, so it does not show up in `ps`.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { root } from "./workspaces.ts";

const say = (line: string) => console.log(`[cv-wallet] ${line}`);
const env: NodeJS.ProcessEnv = { ...process.env, TURBO_TELEMETRY_DISABLED: "1", TURBO_NO_UPDATE_NOTIFIER: "1" };

const dataDir = join(root, "data");
env.CRYPTO_DATA_DIR ??= join(dataDir, "crypto");
env.WALLET_DATA_DIR ??= join(dataDir, "wallet");
env.CRYPTO_SERVICE_TOKEN_FILE ??= join(dataDir, "service-token");
if (!env.CRYPTO_SERVICE_TOKEN && !existsSync(env.CRYPTO_SERVICE_TOKEN_FILE)) {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  writeFileSync(env.CRYPTO_SERVICE_TOKEN_FILE, randomBytes(32).toString("base64url"), { mode: 0o600, flag: "wx" });
  say(`generated the crypto service token in ${env.CRYPTO_SERVICE_TOKEN_FILE}`);
}

say("building (turbo; cached when nothing changed)");
const build = spawnSync("turbo", ["run", "build", "--output-logs=errors-only"], {
  cwd: root,
  stdio: ["ignore", "inherit", "inherit"],
  env,
});
if (build.status !== 0) process.exit(build.status ?? 1);

const services = ["crypto", "wallet"].filter((name) => existsSync(join(root, "services", name, "src", "main.ts")));
const children = new Map<string, ChildProcess>();
let stopping = false;

for (const name of services) {
  say(`starting the ${name} service`);
  const child = spawn(process.execPath, ["src/main.ts"], {
    cwd: join(root, "services", name),
    stdio: ["ignore", "inherit", "inherit"],
    env,
  });
  children.set(name, child);
  child.on("exit", (code, signal) => {
    children.delete(name);
    if (!stopping) {
      say(`the ${name} service stopped (${signal ?? `exit ${code}`}); stopping the rest`);
      stop(1);
    } else if (children.size === 0) process.exit(process.exitCode ?? 0);
  });
}

function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  for (const child of children.values()) child.kill("SIGTERM");
  if (children.size === 0) process.exit(code);
}
process.on("SIGINT", () => stop(0));
process.on("SIGTERM", () => stop(0));

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
