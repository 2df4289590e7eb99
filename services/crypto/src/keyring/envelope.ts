// The data encryption and its text format. AES-256-GCM with a fresh random 96-bit nonce per
// message; the associated data binds the key name, the version and the caller's context, so
// a ciphertext moved to another key, version, record or field no longer authenticates.
//
//   cvw:v<version>:<base64url(nonce ‖ ciphertext ‖ tag)>
import { createCipheriv, createDecipheriv, type KeyObject, randomFillSync } from "node:crypto";
import { invalidArgument } from "@cv-wallet/common/errors";

export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const MAX_VERSION = 0xffff_ffff;

const PREFIX = "cvw:v";
const FORMAT = /^cvw:v([1-9][0-9]{0,9}):([A-Za-z0-9_-]+)$/;

export interface ParsedCiphertext {
  version: number;
  nonce: Buffer;
  /** Ciphertext without the tag. */
  body: Buffer;
  tag: Buffer;
}

// Nonces are drawn from the CSPRNG a few hundred at a time: one getrandom call per 4 KiB
// instead of one per message. Each nonce is still 96 fresh random bits, used once.
const pool = Buffer.alloc(NONCE_BYTES * 341);
let poolOffset = pool.length;

function randomNonce(): Buffer {
  if (poolOffset + NONCE_BYTES > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const nonce = Buffer.from(pool.subarray(poolOffset, poolOffset + NONCE_BYTES));
  pool.fill(0, poolOffset, poolOffset + NONCE_BYTES);
  poolOffset += NONCE_BYTES;
  return nonce;
}

/** Length-prefixed so that no two (name, version, context) triples share an encoding. */
function associatedData(keyName: string, version: number, context: Uint8Array): Buffer {
  const name = Buffer.from(keyName, "utf8");
  const out = Buffer.alloc(8 + 4 + name.length + 4 + 4 + context.length);
  let o = out.write("cvw-aad1", 0, "latin1");
  o = out.writeUInt32BE(name.length, o);
  o += name.copy(out, o);
  o = out.writeUInt32BE(version, o);
  o = out.writeUInt32BE(context.length, o);
  Buffer.from(context.buffer, context.byteOffset, context.byteLength).copy(out, o);
  return out;
}

/** Seals `plaintext`; `dek` is read synchronously and not kept. */
export function seal(
  dek: Uint8Array | KeyObject,
  keyName: string,
  version: number,
  plaintext: Uint8Array,
  context: Uint8Array,
): string {
  const nonce = randomNonce();
  const cipher = createCipheriv("aes-256-gcm", dek, nonce);
  cipher.setAAD(associatedData(keyName, version, context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  return `${PREFIX}${version}:${Buffer.concat([nonce, body, tag]).toString("base64url")}`;
}

/** Parses the text format strictly; any deviation is INVALID_ARGUMENT. */
export function parseCiphertext(text: string): ParsedCiphertext {
  const m = FORMAT.exec(text);
  if (!m) throw invalidArgument("ciphertext is malformed: expected cvw:v<version>:<base64url>");
  const version = Number(m[1]);
  if (version > MAX_VERSION) throw invalidArgument("ciphertext is malformed: version out of range");
  const raw = Buffer.from(m[2]!, "base64url");
  // Node's decoder is lenient (ignores trailing bits); insist on the canonical encoding so a
  // ciphertext has exactly one text form.
  if (raw.toString("base64url") !== m[2]) throw invalidArgument("ciphertext is malformed: not canonical base64url");
  if (raw.length < NONCE_BYTES + TAG_BYTES) throw invalidArgument("ciphertext is malformed: too short");
  return {
    version,
    nonce: raw.subarray(0, NONCE_BYTES),
    body: raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES),
    tag: raw.subarray(raw.length - TAG_BYTES),
  };
}

/** Opens a parsed ciphertext; a failed tag check is INVALID_ARGUMENT with no detail to leak. */
export function open(
  dek: Uint8Array | KeyObject,
  keyName: string,
  parsed: ParsedCiphertext,
  context: Uint8Array,
): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", dek, parsed.nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(associatedData(keyName, parsed.version, context));
  decipher.setAuthTag(parsed.tag);
  try {
    return Buffer.concat([decipher.update(parsed.body), decipher.final()]);
  } catch {
    throw invalidArgument("ciphertext does not authenticate under this key and context");
  }
}
