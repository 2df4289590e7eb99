import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { openSqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import { storeContract } from "./contract.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

storeContract("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "wallet-store-"));
  dirs.push(dir);
  return openSqliteStore(dir);
});
