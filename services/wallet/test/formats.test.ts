// Property tests for the formats: access tokens (shape, checksum, prefix), masking, expiry days.
import { create, toJsonString } from "@bufbuild/protobuf";
import { ApiKeySchema } from "@cv-wallet/proto/wallet/v1";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expiresInDays, keyMessage } from "../src/domain/mappers.ts";
import { generateToken, hashSecret, isWellFormedToken, tokenPrefix } from "../src/domain/token-format.ts";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

describe("access token format", () => {
  it("generated tokens are cvw_ + 36 base62 characters, with a valid checksum and ≥ 160 random bits", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const t = generateToken();
      expect(t).toMatch(/^cvw_[0-9A-Za-z]{36}$/);
      expect(isWellFormedToken(t)).toBe(true);
      seen.add(t);
    }
    expect(seen.size).toBe(2000);
    // 30 random base62 characters carry 30 × log2(62) ≈ 178.6 bits.
    expect(30 * Math.log2(62)).toBeGreaterThan(160);
  });

  it("any single-character change is caught by the checksum", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 39 }), fc.integer({ min: 1, max: 61 }), (position, shift) => {
        const t = generateToken();
        const chars = [...t];
        const i = ALPHABET.indexOf(chars[position]!);
        chars[position] = i < 0 ? "x" : ALPHABET[(i + shift) % 62]!;
        return !isWellFormedToken(chars.join(""));
      }),
      { numRuns: 2000 },
    );
  });

  it("hashes are SHA-256 hex and prefixes show only the first four random characters", () => {
    const t = generateToken();
    expect(hashSecret(t)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashSecret(t)).toBe(hashSecret(t));
    expect(tokenPrefix(t)).toBe(t.slice(0, 8));
    fc.assert(fc.property(fc.string(), (s) => !isWellFormedToken(`x${s}`)));
  });
});

describe("masking and expiry", () => {
  const printable = fc.stringMatching(/^[\x21-\x7e]{8,200}$/);

  it("a key record's message shows the last four characters and never the key", () => {
    fc.assert(
      fc.property(printable, (key) => {
        const now = new Date();
        const message = keyMessage({
          id: "0".repeat(24),
          userId: "1".repeat(24),
          provider: "openai",
          name: "n",
          ciphertext: "cvw:v1:AAAA",
          keyVersion: 1,
          last4: key.slice(-4),
          isDefault: false,
          usageCount: 0,
          createdAt: now,
          updatedAt: now,
        });
        const json = toJsonString(ApiKeySchema, create(ApiKeySchema, message));
        return message.maskedKey === `••••${key.slice(-4)}` && !json.includes(JSON.stringify(key).slice(1, -1));
      }),
    );
  });

  it("expiresInDays counts whole days down, negative once expired", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    expect(expiresInDays(undefined, now)).toBeUndefined();
    expect(expiresInDays(new Date("2026-01-01T12:00:00Z"), now)).toBe(0);
    expect(expiresInDays(new Date("2026-01-15T00:00:00Z"), now)).toBe(14);
    expect(expiresInDays(new Date("2025-12-31T12:00:00Z"), now)).toBe(-1);
    fc.assert(
      fc.property(fc.integer({ min: -100_000, max: 100_000 }), (minutes) => {
        const days = expiresInDays(new Date(now.getTime() + minutes * 60_000), now)!;
        return days <= minutes / 1440 && days > minutes / 1440 - 1;
      }),
    );
  });
});
