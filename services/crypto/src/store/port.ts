// What the keyring needs from storage. Two adapters (SQLite, MongoDB) pass one contract
// suite. Every write that two instances may race on is atomic in the store itself:
// versions are unique per key (insert-if-absent), counters are increments, the minimum
// decryption version only rises.

export interface TenantKeyVersion {
  name: string;
  version: number;
  /** Random id of this DEK; part of the cache key, so a re-created key never hits an old DEK. */
  dekId: string;
  wrappedDek: Uint8Array;
  wrappingKeyId: string;
  createdAt: Date;
  /** Encryptions reserved from this version's nonce budget: every ciphertext made, plus reservations not yet used. */
  encryptionCount: number;
}

export interface TenantKey {
  name: string;
  minDecryptionVersion: number;
  createdAt: Date;
}

/** A version together with its key's minimum decryption version: what one encrypt or decrypt reads. */
export interface TenantKeyVersionWithMin extends TenantKeyVersion {
  minDecryptionVersion: number;
}

export interface TenantKeyWithVersions extends TenantKey {
  /** Ascending by version. */
  versions: TenantKeyVersion[];
}

export interface TenantKeyStore {
  readonly kind: "sqlite" | "mongodb";
  /**
   * Resolves when the store answers and can write (it writes a probe); throws an Error
   * naming the variable to fix. Health follows it.
   */
  check(): Promise<void>;
  /** The latest version of a key, or undefined when the key has none. */
  latestVersion(name: string): Promise<TenantKeyVersionWithMin | undefined>;
  getVersion(name: string, version: number): Promise<TenantKeyVersionWithMin | undefined>;
  getKey(name: string): Promise<TenantKeyWithVersions | undefined>;
  /** Keys in name order after `after`, at most `limit`. */
  listKeys(after: string, limit: number): Promise<TenantKeyWithVersions[]>;
  /**
   * Adds a version (creating the key on version 1). Writes nothing and answers "exists" when
   * that (name, version) already exists (another caller won the race), and "destroyed" when
   * the key was destroyed: a destroyed name is a tombstone and is never created again, also
   * when the insert races the destruction.
   */
  insertVersion(record: TenantKeyVersion): Promise<"inserted" | "exists" | "destroyed">;
  /** Raises the minimum to `version` if lower; returns the key afterwards (undefined if absent). */
  raiseMinDecryptionVersion(name: string, version: number): Promise<TenantKey | undefined>;
  /**
   * Reserves `count` encryptions of a version's nonce budget, durably, before any is used;
   * returns the version's count afterwards (undefined when the version does not exist).
   */
  reserveEncryptions(name: string, version: number, count: number): Promise<number | undefined>;
  /** Adds to encryption counters atomically (negative: hands back reservations that were not used). */
  addEncryptions(increments: readonly { name: string; version: number; count: number }[]): Promise<void>;
  /**
   * Deletes the key and every wrapped DEK, leaving a tombstone for the name, and makes the
   * deleted bytes leave the store's files where the store can; returns how many versions were deleted.
   */
  destroyKey(name: string): Promise<number>;
  /** Versions in (name, version) order after the cursor, at most `limit`. */
  listVersions(after: { name: string; version: number } | undefined, limit: number): Promise<TenantKeyVersion[]>;
  /** Replaces a wrapped DEK only if it is still `expected` (so two re-wraps cannot interleave). */
  replaceWrappedDek(
    name: string,
    version: number,
    expected: Uint8Array,
    next: { wrappedDek: Uint8Array; wrappingKeyId: string },
  ): Promise<boolean>;
  close(): Promise<void>;
}
