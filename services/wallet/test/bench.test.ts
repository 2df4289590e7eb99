// `npm run bench` stays runnable. It is not part of `npm test` for its numbers (timings do not
// belong in tests), but a bench that no longer runs went unnoticed once (it read the metrics
// from the main port after they moved to their own listener): this runs it for two seconds per
// case and checks that every case measured something, without errors.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { expect, it } from "vitest";

const walletDir = resolve(import.meta.dirname, "..");

it("the wallet benchmark runs every case to the end, without errors", async () => {
  const reports = mkdtempSync(join(tmpdir(), "wallet-bench-smoke-"));
  try {
    const child = spawn(process.execPath, ["bench/wallet.bench.ts"], {
      cwd: walletDir,
      env: { ...process.env, BENCH_SECONDS: "2", BENCH_REPORT_DIR: reports },
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
    const report = JSON.parse(readFileSync(join(reports, "bench.json"), "utf8")) as {
      results: { benchmark: string; requests: number; errors: number }[];
    };
    expect(report.results.map((r) => r.benchmark)).toEqual([
      "bare Express handler (fixed JSON)",
      "REST GET /api/keys/provider/openai",
      "Connect GetProviderKey",
      "list first page (page_size=10), 10 keys",
      "list first page (page_size=10), 10,000 keys",
    ]);
    for (const r of report.results) {
      expect(r.requests, r.benchmark).toBeGreaterThan(0);
      expect(r.errors, r.benchmark).toBe(0);
    }
    // The decrypt latency comes from the wallet's /metrics: it must have found the calls.
    expect(output).toMatch(/as the wallet saw them: [\d.]+ ms mean over [1-9]\d* calls/);
  } finally {
    rmSync(reports, { recursive: true, force: true });
  }
}, 300_000);
