// Named keys with versions (Vault transit style). Each version is a DEK stored only wrapped by
// the key-encryption key (KEK); plaintext DEKs exist only inside the DekCache. Version 1 is made on first
// encrypt, new encryptions use the latest version, decryption is refused below the key's
// minimum, and a version is rotated automatically once its encryption budget is spent.
import { type KeyObject, randomUUID } from "node:crypto";
import { AppError, failedPrecondition, invalidArgument, notFound } from "@cv-wallet/common/errors";
import type { Logger } from "@cv-wallet/common/logger";
import { dekContext, type KekProvider } from "../kms/kek-provider.ts";
import type {
  TenantKeyStore,
  TenantKeyVersion,
  TenantKeyVersionWithMin,
  TenantKeyWithVersions,
} from "../store/port.ts";
import { EncryptionBudget } from "./budget.ts";
import type { DekCache } from "./dek-cache.ts";
import { MAX_VERSION, open, parseCiphertext, seal } from "./envelope.ts";

export interface KeyringOptions {
  store: TenantKeyStore;
  kek: KekProvider;
  cache: DekCache;
  logger: Logger;
  /** A version is rotated once it has sealed this many messages. */
  rotateAfterEncryptions: number;
  /** Largest block of encryptions reserved in the store at once (default 1,000). */
  maxReservation?: number;
}

export interface Sealed {
  ciphertext: string;
  version: number;
}

export interface RewrapPage {
  rewrapped: number;
  unchanged: number;
  nextPageToken: string;
  wrappingKeyId: string;
}

const ROTATE_RETRIES = 10;

export class Keyring {
  readonly #store: TenantKeyStore;
  readonly #kek: KekProvider;
  readonly #cache: DekCache;
  readonly #logger: Logger;
  readonly #rotateAfter: number;
  readonly #budget: EncryptionBudget;
  readonly #creating = new Map<string, Promise<"inserted" | "exists" | "destroyed">>();

  constructor(options: KeyringOptions) {
    this.#store = options.store;
    this.#kek = options.kek;
    this.#cache = options.cache;
    this.#logger = options.logger;
    this.#rotateAfter = options.rotateAfterEncryptions;
    this.#budget = new EncryptionBudget(options.store, { maxBlock: options.maxReservation ?? 1_000 });
  }

  async encrypt(name: string, plaintext: Uint8Array, context: Uint8Array): Promise<Sealed> {
    let version = (await this.#store.latestVersion(name)) ?? (await this.#ensureVersion(name, 1));
    // The nonce is paid for (reserved in the store) before the message is sealed.
    for (let attempt = 0; ; attempt++) {
      if (this.#budget.takeReserved(name, version.version)) break;
      if (await this.#budget.take(name, version.version, version.encryptionCount, this.#rotateAfter)) break;
      if (attempt >= ROTATE_RETRIES)
        throw new AppError("unavailable", `key ${name} is being rotated concurrently; retry`);
      if (version.version >= MAX_VERSION) throw failedPrecondition(`key ${name} has no versions left`);
      this.#logger.info({ keyName: name, version: version.version }, "encryption budget spent: rotating");
      version = await this.#ensureVersion(name, version.version + 1);
    }
    const v = version;
    const ciphertext = await this.#withDek(v, (dek) => seal(dek, name, v.version, plaintext, context));
    return { ciphertext, version: v.version };
  }

  async decrypt(
    name: string,
    ciphertext: string,
    context: Uint8Array,
  ): Promise<{ plaintext: Buffer; version: number }> {
    const parsed = parseCiphertext(ciphertext);
    const version = await this.#store.getVersion(name, parsed.version);
    if (!version) throw notFound(`key ${name} has no version ${parsed.version} (unknown or destroyed)`);
    if (parsed.version < version.minDecryptionVersion) {
      throw failedPrecondition(
        `key ${name} version ${parsed.version} is below its minimum decryption version ${version.minDecryptionVersion}`,
      );
    }
    const plaintext = await this.#withDek(version, (dek) => open(dek, name, parsed, context));
    return { plaintext, version: parsed.version };
  }

  /** Re-seals under the latest version; the plaintext never leaves this function. */
  async rewrap(name: string, ciphertext: string, context: Uint8Array): Promise<Sealed & { changed: boolean }> {
    const { plaintext, version } = await this.decrypt(name, ciphertext, context);
    try {
      const latest = await this.#store.latestVersion(name);
      if (!latest) throw notFound(`key ${name} was destroyed`);
      if (latest.version === version) return { ciphertext, version, changed: false };
      const sealed = await this.encrypt(name, plaintext, context);
      return { ...sealed, changed: true };
    } finally {
      plaintext.fill(0);
    }
  }

  async rotate(name: string): Promise<TenantKeyWithVersions> {
    for (let attempt = 0; attempt < ROTATE_RETRIES; attempt++) {
      const latest = await this.#store.latestVersion(name);
      if (!latest) throw notFound(`key ${name} does not exist`);
      if (latest.version >= MAX_VERSION) throw failedPrecondition(`key ${name} has no versions left`);
      // Each RotateKey adds exactly one version; if another instance took this number, take the next.
      const added = await this.#addVersion(name, latest.version + 1);
      if (added === "inserted") return this.info(name);
      if (added === "destroyed") throw notFound(`key ${name} does not exist`);
    }
    throw new AppError("unavailable", `key ${name} is being rotated concurrently; retry`);
  }

  async info(name: string): Promise<TenantKeyWithVersions> {
    await this.#budget.release(name);
    const key = await this.#store.getKey(name);
    if (!key || key.versions.length === 0) throw notFound(`key ${name} does not exist`);
    return key;
  }

  async list(pageToken: string, pageSize: number): Promise<{ keys: TenantKeyWithVersions[]; nextPageToken: string }> {
    await this.#budget.release();
    const after = pageToken ? decodeToken(pageToken, (v): v is string => typeof v === "string") : "";
    const keys = await this.#store.listKeys(after, pageSize);
    const last = keys.at(-1);
    return { keys, nextPageToken: keys.length === pageSize && last ? encodeToken(last.name) : "" };
  }

  async setMinDecryptionVersion(name: string, min: number): Promise<TenantKeyWithVersions> {
    const key = await this.info(name);
    const latest = key.versions.at(-1)!.version;
    if (min > latest)
      throw failedPrecondition(`minimum decryption version ${min} is above the latest version ${latest}`);
    if (min < key.minDecryptionVersion) {
      throw failedPrecondition(`minimum decryption version can only rise (it is ${key.minDecryptionVersion})`);
    }
    await this.#store.raiseMinDecryptionVersion(name, min);
    return this.info(name);
  }

  /** Crypto-shredding: deletes every wrapped DEK and forgets the cached ones. */
  async destroy(name: string): Promise<number> {
    this.#budget.drop(name);
    const destroyed = await this.#store.destroyKey(name);
    this.#cache.deletePrefix(`${name}\u0000`);
    this.#logger.warn({ keyName: name, versionsDestroyed: destroyed }, "key destroyed");
    return destroyed;
  }

  /** Moves a page of wrapped DEKs onto the KEK's current key (after KMS_KEY_ID changed). */
  async rewrapDataKeys(pageToken: string, pageSize: number): Promise<RewrapPage> {
    const after = pageToken ? decodeToken(pageToken, isCursor) : undefined;
    const versions = await this.#store.listVersions(after, pageSize);
    const target = this.#kek.currentKeyId();
    let rewrapped = 0;
    let unchanged = 0;
    for (const v of versions) {
      if (v.wrappingKeyId === target) {
        unchanged++;
        continue;
      }
      const next = await this.#kek.rewrap(v.wrappedDek, dekContext(v.name, v.version), v.wrappingKeyId);
      // Compare-and-set: if another instance re-wrapped it meanwhile, theirs stands.
      if (
        await this.#store.replaceWrappedDek(v.name, v.version, v.wrappedDek, {
          wrappedDek: next.wrapped,
          wrappingKeyId: next.keyId,
        })
      ) {
        rewrapped++;
      } else {
        unchanged++;
      }
    }
    const last = versions.at(-1);
    const nextPageToken =
      versions.length === pageSize && last ? encodeToken({ name: last.name, version: last.version }) : "";
    return { rewrapped, unchanged, nextPageToken, wrappingKeyId: target };
  }

  async close(): Promise<void> {
    await this.#budget.release();
    this.#cache.clear();
  }

  #withDek<T>(version: TenantKeyVersion, fn: (dek: KeyObject) => T): Promise<T> {
    return this.#cache.use(
      cacheId(version),
      () => this.#kek.decrypt(version.wrappedDek, dekContext(version.name, version.version), version.wrappingKeyId),
      fn,
    );
  }

  /**
   * Makes sure `version` exists (ours or a racing instance's) and returns the latest.
   * Concurrent callers in this process share one attempt (one KMS GenerateDataKey); other
   * instances are sorted out by the store's unique (name, version).
   */
  async #ensureVersion(name: string, version: number): Promise<TenantKeyVersionWithMin> {
    const id = `${name}\u0000${version}`;
    let creating = this.#creating.get(id);
    if (!creating) {
      creating = this.#addVersion(name, version).finally(() => this.#creating.delete(id));
      this.#creating.set(id, creating);
    }
    if ((await creating) === "destroyed") {
      throw failedPrecondition(`key ${name} was destroyed; a destroyed key is never created again`);
    }
    const latest = await this.#store.latestVersion(name);
    if (!latest) throw new AppError("unavailable", `key ${name} was destroyed while it was being created; retry`);
    return latest;
  }

  /** Generates a DEK and stores it as `version`, unless that version exists or the key was destroyed. */
  async #addVersion(name: string, version: number): Promise<"inserted" | "exists" | "destroyed"> {
    const generated = await this.#kek.generateDataKey(dekContext(name, version));
    const record: TenantKeyVersion = {
      name,
      version,
      dekId: randomUUID(),
      wrappedDek: generated.wrapped,
      wrappingKeyId: generated.keyId,
      createdAt: new Date(),
      encryptionCount: 0,
    };
    try {
      const inserted = await this.#store.insertVersion(record);
      if (inserted === "inserted") {
        // Prime the cache with the DEK we already hold: no KMS unwrap for a new version.
        await this.#cache.use(
          cacheId(record),
          async () => generated.plaintext,
          () => undefined,
        );
        this.#logger.info({ keyName: name, version }, "key version created");
      }
      return inserted;
    } finally {
      generated.plaintext.fill(0);
    }
  }
}

function cacheId(v: { name: string; version: number; dekId: string }): string {
  return `${v.name}\u0000${v.version}\u0000${v.dekId}`;
}

function encodeToken(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

function decodeToken<T>(token: string, guard: (v: unknown) => v is T): T {
  try {
    const value: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (guard(value)) return value;
  } catch {}
  throw invalidArgument("page_token is not one this service issued");
}

function isCursor(v: unknown): v is { name: string; version: number } {
  const c = v as { name?: unknown; version?: unknown } | null;
  return typeof c?.name === "string" && typeof c.version === "number";
}
