// Password hashing with argon2id at the OWASP minimum (19 MiB, 2 passes, 1 lane), using
// Node's built-in crypto.argon2 (no native addon). Stored as a PHC string so the
// parameters can be raised later without breaking existing hashes.
//
// Every hash goes through one process-wide queue: at most MAX_CONCURRENT run at once (each
// holds 19 MiB), and a burst beyond MAX_QUEUED waiting is refused outright, so no flood of
// sign-ups or sign-ins can exhaust memory or starve the event loop's thread pool.
import { argon2, randomBytes, timingSafeEqual } from "node:crypto";
import { AppError } from "@cv-wallet/common/errors";

const PARAMS = { memory: 19_456, passes: 2, parallelism: 1, tagLength: 32 };
const MAX_CONCURRENT = 2;
const MAX_QUEUED = 128;

let running = 0;
let peak = 0;
const waiting: (() => void)[] = [];

/** How many hashes run now and the most that ever ran at once (tests, metrics). */
export function hashingStats(): { running: number; queued: number; peak: number; maxConcurrent: number } {
  return { running, queued: waiting.length, peak, maxConcurrent: MAX_CONCURRENT };
}

async function queued<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT) {
    if (waiting.length >= MAX_QUEUED) {
      throw new AppError("unavailable", "the server is busy; try again in a few seconds", { retryAfterSeconds: 2 });
    }
    await new Promise<void>((resume) => waiting.push(resume));
  }
  running++;
  peak = Math.max(peak, running);
  try {
    return await work();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function derive(password: string, salt: Buffer, p: typeof PARAMS): Promise<Buffer> {
  return queued(
    () =>
      new Promise((resolve, reject) =>
        argon2("argon2id", { message: password, nonce: salt, ...p }, (err, key) => (err ? reject(err) : resolve(key))),
      ),
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
