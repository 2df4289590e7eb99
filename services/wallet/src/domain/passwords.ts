// Password hashing with argon2id at the OWASP minimum (19 MiB, 2 passes, 1 lane), using
// Node's built-in crypto.argon2 (no native addon). Stored as a PHC string so the
// parameters can be raised later without breaking existing hashes.
import { argon2, randomBytes, timingSafeEqual } from "node:crypto";

const PARAMS = { memory: 19_456, passes: 2, parallelism: 1, tagLength: 32 };

function derive(password: string, salt: Buffer, p: typeof PARAMS): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    argon2("argon2id", { message: password, nonce: salt, ...p }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const tag = await derive(password, salt, PARAMS);
  return `$argon2id$v=19$m=${PARAMS.memory},t=${PARAMS.passes},p=${PARAMS.parallelism}$${salt.toString("base64url")}$${tag.toString("base64url")}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([\w-]+)\$([\w-]+)$/.exec(stored);
  if (!m) return false;
  const expected = Buffer.from(m[5]!, "base64url");
  const tag = await derive(password, Buffer.from(m[4]!, "base64url"), {
    memory: Number(m[1]),
    passes: Number(m[2]),
    parallelism: Number(m[3]),
    tagLength: expected.length,
  });
  return timingSafeEqual(tag, expected);
}

/** A hash of a random password: verified against when the email is unknown, so timing does not tell. */
export const DUMMY_HASH_PROMISE: Promise<string> = hashPassword(randomBytes(16).toString("hex"));
