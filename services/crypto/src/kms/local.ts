// The default key-encryption key (KEK) provider: a 256-bit master key in a file (mode 0600) under CRYPTO_DATA_DIR,
// created on first start. DEKs are wrapped with AES-256-GCM, the encryption context as
// associated data. Fine for one machine; production uses AWS KMS so the key never sits on disk.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { AppError } from "@cv-wallet/common/errors";
import type { EncryptionContext, GeneratedDataKey, KekProvider } from "./kek-provider.ts";

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class LocalKekProvider implements KekProvider {
  readonly kind = "local" as const;
  readonly #file: string;
  #key: Buffer | undefined;
  #keyId = "";

  constructor(file: string) {
    this.#file = file;
  }

  currentKeyId(): string {
    return this.#keyId;
  }

  async check(): Promise<void> {
    if (this.#key) return;
    let key: Buffer;
    try {
      key = loadOrCreate(this.#file);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`CRYPTO_MASTER_KEY_FILE: cannot use the local master key file ${this.#file}: ${reason}`);
    }
    this.#key = key;
    // A fingerprint names the key in GetKeyInfo and RewrapDataKeys; it reveals nothing of it.
    this.#keyId = `local:${createHash("sha256").update("cvw-local-key-id").update(key).digest("hex").slice(0, 16)}`;
  }

  async generateDataKey(context: EncryptionContext): Promise<GeneratedDataKey> {
    const plaintext = randomBytes(KEY_BYTES);
    return { plaintext, wrapped: this.#wrap(plaintext, context), keyId: this.#keyId };
  }

  async decrypt(wrapped: Uint8Array, context: EncryptionContext, keyId: string): Promise<Uint8Array> {
    const key = this.#ready();
    if (keyId !== this.#keyId) {
      throw new AppError("failed_precondition", `data key is wrapped by ${keyId}, not by the local master key`);
    }
    if (wrapped.length !== NONCE_BYTES + KEY_BYTES + TAG_BYTES)
      throw new AppError("internal", "wrapped data key is corrupt");
    const w = Buffer.from(wrapped);
    const decipher = createDecipheriv("aes-256-gcm", key, w.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(contextBytes(context));
    decipher.setAuthTag(w.subarray(NONCE_BYTES + KEY_BYTES));
    try {
      return Buffer.concat([decipher.update(w.subarray(NONCE_BYTES, NONCE_BYTES + KEY_BYTES)), decipher.final()]);
    } catch {
      throw new AppError("internal", "wrapped data key does not authenticate under the local master key");
    }
  }

  async rewrap(wrapped: Uint8Array, context: EncryptionContext, keyId: string) {
    // One local key: nothing to move to. Unwrap anyway, to prove the DEK is still readable.
    const dek = await this.decrypt(wrapped, context, keyId);
    dek.fill(0);
    return { wrapped, keyId: this.#keyId };
  }

  close(): void {
    this.#key?.fill(0);
    this.#key = undefined;
  }

  #wrap(dek: Uint8Array, context: EncryptionContext): Uint8Array {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#ready(), nonce);
    cipher.setAAD(contextBytes(context));
    return Buffer.concat([nonce, cipher.update(dek), cipher.final(), cipher.getAuthTag()]);
  }

  #ready(): Buffer {
    if (!this.#key) throw new AppError("unavailable", "local master key is not loaded");
    return this.#key;
  }
}

/** Canonical bytes of a context: sorted keys, JSON. */
function contextBytes(context: EncryptionContext): Buffer {
  const sorted = Object.keys(context)
    .sort()
    .map((k) => [k, context[k]]);
  return Buffer.from(JSON.stringify(sorted), "utf8");
}

function loadOrCreate(file: string): Buffer {
  try {
    const key = readFileSync(file);
    if (key.length !== KEY_BYTES) throw new Error(`expected ${KEY_BYTES} bytes, found ${key.length}`);
    if ((statSync(file).mode & 0o077) !== 0) throw new Error("file is readable by group or others; chmod 600 it");
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Written whole to a temporary name, then linked into place: link fails if another instance
  // got there first (use theirs), and no one ever reads a half-written key.
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temp, randomBytes(KEY_BYTES), { mode: 0o600, flag: "wx" });
  try {
    linkSync(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    unlinkSync(temp);
  }
  return readFileSync(file);
}
