// `npm test`: lint, typecheck, buf lint and every workspace's vitest suites (through turbo,
// so unchanged workspaces come from cache), then one closing line that counts the tests.
// Suites that could not run here list their reason above that line; suites that ran against a
// real server (MongoDB or FerretDB, AWS KMS or moto) name it, with any way that server differs
// from production's.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { root, workspaces } from "./workspaces.ts";

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
}

const say = (line: string) => console.log(`[cv-wallet] ${line}`);

// The repository-wide checks in scripts/ report like a workspace.
const suites = [...workspaces, "scripts"];
for (const ws of suites) rmSync(join(root, ws, ".reports"), { recursive: true, force: true });

say("lint, typecheck and test every workspace (turbo)");
const turbo = spawnSync(
  "turbo",
  [
    "run",
    "lint",
    "lint:root",
    "typecheck",
    "typecheck:root",
    "test",
    "test:root",
    "--concurrency=2",
    "--continue",
    "--output-logs=errors-only",
  ],
  {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: "1", TURBO_NO_UPDATE_NOTIFIER: "1" },
  },
);

let passed = 0;
let failed = 0;
let skipped = 0;
const missing: string[] = [];
const skips: string[] = [];
const servers: string[] = [];
const differences: string[] = [];
const linesOf = (file: string) =>
  existsSync(file) ? [...new Set(readFileSync(file, "utf8").split("\n").filter(Boolean))] : [];
for (const ws of suites) {
  const report = join(root, ws, ".reports", "vitest.json");
  if (!existsSync(report)) {
    missing.push(ws);
    continue;
  }
  const r = JSON.parse(readFileSync(report, "utf8")) as VitestReport;
  const wsSkipped = r.numPendingTests + r.numTodoTests;
  say(`${ws}: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${wsSkipped} skipped`);
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += wsSkipped;
  skips.push(...linesOf(join(root, ws, ".reports", "skipped.txt")));
  servers.push(...linesOf(join(root, ws, ".reports", "servers.txt")));
  differences.push(...linesOf(join(root, ws, ".reports", "differences.txt")));
}

for (const line of servers) say(`ran against: ${line}`);
for (const line of differences) say(`test server differs: ${line}`);
for (const line of skips) say(`skipped here: ${line}`);
if (missing.length > 0) say(`no test report from: ${missing.join(", ")}`);
const ok = turbo.status === 0 && failed === 0 && missing.length === 0;
say(`${suites.length} suites${ok ? "" : "; FAILED (see above)"}`);
// The closing line alone, in the plain form CI reads: "tests: N passed, N failed, N skipped".
// A failed lint, typecheck or missing report fails the run with no failed test: count it as one,
// so the line never says "0 failed" for a red run.
const failures = failed > 0 || ok ? failed : 1;
console.log(`tests: ${passed} passed, ${failures} failed, ${skipped} skipped`);
process.exit(ok ? 0 : 1);
