// `npm start` (scripts/start.ts) and Ctrl-C: the script runs in a process group of its own,
// as in a terminal, and the whole group gets SIGINT, as a terminal's Ctrl-C delivers it. Both
// services must stop gracefully (no "second signal: exiting now"), each exiting 0, and the
// generated service token must sit beside the data directories, not under ./data.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { repoRoot } from "./support/paths.ts";
import { freePort } from "./support/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "cvw-start-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** JSON log lines of the services (the script's own lines start with [cv-wallet]). */
function logLines(output: string): Record<string, unknown>[] {
  return output
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

test("Ctrl-C on the terminal's process group stops both services gracefully, once", async () => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(CRYPTO_|WALLET_|MONGODB_URI$|KMS_KEY_ID$|AWS_ENDPOINT_URL)/.test(k)) env[k] = v;
  }
  Object.assign(env, {
    CRYPTO_DATA_DIR: join(dir, "crypto"),
    WALLET_DATA_DIR: join(dir, "wallet"),
    CRYPTO_GRPC_ADDR: `127.0.0.1:${await freePort()}`,
    WALLET_HTTP_ADDR: `127.0.0.1:${await freePort()}`,
    WALLET_VALIDATE_INTERVAL: "off",
    LOG_LEVEL: "info",
    // The build is not what this test is about; `npm start` runs it.
    CVW_START_BUILD: "0",
  });
  // detached: the script leads a new process group, like a shell's foreground job.
  const child = spawn(process.execPath, [join(repoRoot, "scripts", "start.ts")], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  try {
    const deadline = Date.now() + 60_000;
    while (!output.includes("cv-wallet is ready")) {
      if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`not ready after 60 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // The terminal's Ctrl-C: SIGINT to every process in the foreground group.
    process.kill(-child.pid!, "SIGINT");
    expect(await exited, output).toBe(0);
  } finally {
    if (child.exitCode === null) process.kill(-child.pid!, "SIGKILL");
  }

  expect(output).not.toMatch(/second signal/);
  expect(output).toContain("[cv-wallet] the crypto service stopped (exit 0)");
  expect(output).toContain("[cv-wallet] the wallet service stopped (exit 0)");
  // Each service logged its own graceful stop, after the one SIGTERM the script forwarded.
  const lines = logLines(output);
  const by = (msg: string) =>
    lines
      .filter((l) => l.msg === msg)
      .map((l) => `${l.service} ${l.signal ?? ""}`.trim())
      .sort();
  expect(by("shutting down")).toEqual(["crypto SIGTERM", "wallet SIGTERM"]);
  expect(by("stopped")).toEqual(["crypto", "wallet"]);

  // The generated token sits beside the two data directories, private.
  const tokenFile = join(dir, "service-token");
  expect(output).toContain(`generated the crypto service token in ${tokenFile}`);
  expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
  expect(existsSync(join(dir, "crypto")) && existsSync(join(dir, "wallet"))).toBe(true);
}, 90_000);
