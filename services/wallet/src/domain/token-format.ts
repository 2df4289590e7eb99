// Personal access tokens: "cvw_" + 30 base62 characters (≈178 random bits) + 6 base62
// characters of CRC32 over the random part. The checksum lets the wallet (and secret
// scanners) reject a mistyped or made-up token without a store lookup. Only SHA-256 of the
// whole token is stored.
import { hash, randomInt } from "node:crypto";
import { crc32 } from "node:zlib";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LENGTH = 30;
const CHECKSUM_LENGTH = 6;
export const TOKEN_PREFIX = "cvw_";
const TOKEN_PATTERN = new RegExp(`^${TOKEN_PREFIX}[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`);

function base62(n: number, width: number): string {
  let out = "";
  for (let i = 0; i < width; i++) {
    out = ALPHABET[n % 62]! + out;
    n = Math.floor(n / 62);
  }
  return out;
}

export function generateToken(): string {
  let random = "";
  for (let i = 0; i < RANDOM_LENGTH; i++) random += ALPHABET[randomInt(62)];
  return `${TOKEN_PREFIX}${random}${base62(crc32(random), CHECKSUM_LENGTH)}`;
}

/** True when the text has the token shape and its checksum matches. */
export function isWellFormedToken(text: string): boolean {
  if (!TOKEN_PATTERN.test(text)) return false;
  const random = text.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + RANDOM_LENGTH);
  return text.slice(-CHECKSUM_LENGTH) === base62(crc32(random), CHECKSUM_LENGTH);
}

export function hashSecret(secret: string): string {
  // One-shot: no Hash object per request.
  return hash("sha256", secret, "hex");
}

/** The part shown in listings so people can tell their tokens apart ("cvw_Ab3d"). */
export function tokenPrefix(token: string): string {
  return token.slice(0, TOKEN_PREFIX.length + 4);
}
