// Property tests of the envelope: round trip, tamper detection, nonce freshness, strict parsing.
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { open, parseCiphertext, seal } from "../src/keyring/envelope.ts";

const dek = randomBytes(32);
const keyName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}(\/[A-Za-z0-9._-]{1,10}){0,2}$/);
const version = fc.integer({ min: 1, max: 0xffff_ffff });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe("envelope", () => {
  it("round-trips any plaintext and context, in the cvw:v<version>: format", () => {
    fc.assert(
      fc.property(keyName, version, bytes(2048), bytes(256), (name, v, plaintext, context) => {
        const text = seal(dek, name, v, plaintext, context);
        expect(text.startsWith(`cvw:v${v}:`)).toBe(true);
        const parsed = parseCiphertext(text);
        expect(parsed.version).toBe(v);
        expect(Buffer.from(open(dek, name, parsed, context))).toEqual(Buffer.from(plaintext));
      }),
    );
  });

  it("two encryptions of the same input differ (fresh nonce)", () => {
    fc.assert(
      fc.property(keyName, bytes(64), bytes(32), (name, plaintext, context) => {
        const a = parseCiphertext(seal(dek, name, 1, plaintext, context));
        const b = parseCiphertext(seal(dek, name, 1, plaintext, context));
        expect(a.nonce.equals(b.nonce)).toBe(false);
      }),
    );
  });

  it("any changed byte (nonce, body or tag) fails with INVALID_ARGUMENT", () => {
    fc.assert(
      fc.property(bytes(256), bytes(32), fc.nat(), fc.integer({ min: 1, max: 255 }), (plaintext, context, at, flip) => {
        const text = seal(dek, "user/p", 1, plaintext, context);
        const raw = Buffer.from(text.slice("cvw:v1:".length), "base64url");
        raw[at % raw.length]! ^= flip;
        const tampered = `cvw:v1:${raw.toString("base64url")}`;
        expect(code(() => open(dek, "user/p", parseCiphertext(tampered), context))).toBe("invalid_argument");
      }),
    );
  });

  it("a changed version, key name or context fails", () => {
    fc.assert(
      fc.property(bytes(64), bytes(32), bytes(32), (plaintext, context, other) => {
        fc.pre(!Buffer.from(context).equals(Buffer.from(other)));
        const text = seal(dek, "user/p", 1, plaintext, context);
        const parsed = parseCiphertext(text);
        expect(code(() => open(dek, "user/p", parseCiphertext(text.replace("cvw:v1:", "cvw:v2:")), context))).toBe(
          "invalid_argument",
        );
        expect(code(() => open(dek, "user/q", parsed, context))).toBe("invalid_argument");
        expect(code(() => open(dek, "user/p", parsed, other))).toBe("invalid_argument");
      }),
    );
  });

  it("does not confuse name/context boundaries (length-prefixed associated data)", () => {
    const text = seal(dek, "user/a", 1, Buffer.from("x"), Buffer.from("bc"));
    expect(code(() => open(dek, "user/ab", parseCiphertext(text), Buffer.from("c")))).toBe("invalid_argument");
  });

  it("parses strictly: anything but the canonical format is INVALID_ARGUMENT", () => {
    const good = seal(dek, "user/p", 7, Buffer.from("hello"), Buffer.alloc(0));
    for (const bad of [
      "",
      "cvw:v0:AAAA",
      "cvw:v01:AAAA",
      "cvw:v1:",
      "cvw:v1:AAAA", // too short
      `cvw:v99999999999:${good.split(":")[2]}`,
      `${good}=`,
      `${good} `,
      good.replace("cvw:", "CVW:"),
      good.replace(/.$/, (c) => (c === "A" ? "B" : "A")).replace(/:(.*)$/, ":$1+"),
    ]) {
      expect(
        code(() => parseCiphertext(bad)),
        bad,
      ).toBe("invalid_argument");
    }
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const c = code(() => parseCiphertext(s));
        expect(c === undefined || c === "invalid_argument").toBe(true);
      }),
    );
  });
});
