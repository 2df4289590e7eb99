import { execFileSync } from "node:child_process";
import { parse } from "dotenv";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { dotenvQuote, render, shellQuote, UnquotableError } from "./formats.ts";

// What a stored key may hold: printable ASCII without spaces (the wallet's own rule).
const keyText = fc.string({
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
  minLength: 1,
});

describe("dotenv", () => {
  test("every key with at most two kinds of quote reads back exactly", () => {
    fc.assert(
      fc.property(keyText, (value) => {
        fc.pre(!(value.includes("'") && value.includes('"') && value.includes("`")));
        expect(parse(render({ A_KEY: value }, "dotenv"))).toEqual({ A_KEY: value });
      }),
      { numRuns: 500 },
    );
  });

  test("a value with all three quote characters is refused, never written wrong", () => {
    expect(() => dotenvQuote("K", `a'b"c\`d`)).toThrow(UnquotableError);
  });
});

describe("shell", () => {
  test("bash reads back every value exactly", () => {
    const values = ["plain", "it's", `"$HOME"`, "`id`", "$(id)", "a\\nb", "#x;y|z&", "'''"];
    const script = values.map((v, i) => `export V${i}=${shellQuote(v)}`).join("\n");
    const out = execFileSync(
      "bash",
      ["-c", `${script}\nfor i in ${values.map((_, i) => i).join(" ")}; do v="V$i"; printf '%s\\0' "\${!v}"; done`],
      {
        encoding: "utf8",
      },
    );
    expect(out.split("\0").slice(0, -1)).toEqual(values);
  });
});

test("json and sorted, one variable per line", () => {
  expect(render({ B: "2", A: "1" }, "json")).toBe('{\n  "A": "1",\n  "B": "2"\n}\n');
  expect(render({ B: "2", A: "1" }, "shell")).toBe("export A='1'\nexport B='2'\n");
});
