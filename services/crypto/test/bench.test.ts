// `npm run bench` stays runnable: one second per case, every case measured. Its numbers are
// not checked here (timings do not belong in tests); that it runs to the end is.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expect, it } from "vitest";

const cryptoDir = resolve(import.meta.dirname, "..");

it("the crypto benchmark runs every case to the end", async () => {
  const reports = mkdtempSync(join(tmpdir(), "crypto-bench-smoke-"));
  try {
    const child = spawn(process.execPath, ["bench/crypto.bench.ts"], {
      cwd: cryptoDir,
      env: { ...process.env, BENCH_SECONDS: "1", BENCH_REPORT_DIR: reports },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.on("close", r));
    expect(code, output.slice(-2000)).toBe(0);
    const report = JSON.parse(readFileSync(join(reports, "benchmark.json"), "utf8")) as {
      results: { name: string; opsPerSec: number }[];
    };
    expect(report.results.length).toBeGreaterThan(10);
    for (const r of report.results) expect(r.opsPerSec, r.name).toBeGreaterThan(0);
  } finally {
    rmSync(reports, { recursive: true, force: true });
  }
}, 300_000);
