// The workspace folders, read from the root package.json so scripts never list them twice.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const root: string = join(import.meta.dirname, "..");

export const workspaces: string[] = (
  JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { workspaces: string[] }
).workspaces;
