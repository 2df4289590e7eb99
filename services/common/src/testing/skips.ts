// A suite that cannot run here (no MongoDB, no container engine, no browser) says so out
// loud: on the console and in .reports/skipped.txt, which `npm test` prints at the end, so a
// skip is never mistaken for coverage.
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

export function reportSkip(suite: string, reason: string): void {
  const line = `${suite}: skipped, ${reason}`;
  console.warn(`[skip] ${line}`);
  const dir = join(process.cwd(), ".reports");
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, "skipped.txt"), `${line}\n`);
}
