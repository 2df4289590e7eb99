// errors.ts is imported by every domain file that throws; it must not drag a transport in.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AppError, httpStatusOf } from "../src/errors.ts";
import { grpcCodeName, grpcStatusOf } from "../src/grpc.ts";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src");

/** Every module specifier resolved while importing `file` in a fresh Node process. */
function importsOf(file: string): string[] {
  const script = `
    const { registerHooks } = await import("node:module");
    const seen = [];
    registerHooks({ resolve(specifier, context, next) { seen.push(specifier); return next(specifier, context); } });
    await import(${JSON.stringify(join(src, file))});
    console.log(JSON.stringify(seen));`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as string[];
}

describe("errors", () => {
  it("loads no transport library at run time", () => {
    const loaded = importsOf("errors.ts");
    expect(loaded.filter((s) => /grpc|connectrpc|express/.test(s))).toEqual([]);
    expect(importsOf("validate.ts").filter((s) => /grpc|connectrpc|express/.test(s))).toEqual([]);
  });

  it("maps codes at the edges", () => {
    expect(httpStatusOf(new AppError("unavailable", "x").code)).toBe(503);
    expect(grpcStatusOf("not_found")).toBe(5);
    expect(grpcCodeName(0)).toBe("ok");
    expect(grpcCodeName(14)).toBe("unavailable");
    expect(grpcCodeName(99)).toBe("unknown");
  });
});
