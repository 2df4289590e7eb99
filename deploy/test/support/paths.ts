// Where the deploy artifacts live, for the tests that check them.
import { execFileSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const deployDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const repoRoot = resolve(deployDir, "..");
export const at = (...parts: string[]) => join(deployDir, ...parts);

/** The absolute path of a command on PATH, or undefined. */
export function which(command: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}
