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
  /** Resolves when the store answers; throws an Error naming the variable to fix. */
  check(): Promise<void>;
  /** The latest version of a key, or undefined when the key has none. */
  latestVersion(name: string): Promise<TenantKeyVersionWithMin | undefined>;
  getVersion(name: string, version: number): Promise<TenantKeyVersionWithMin | undefined>;
  getKey(name: string): Promise<TenantKeyWithVersions | undefined>;
  /** Keys in name order after `after`, at most `limit`. */
  listKeys(after: string, limit: number): Promise<TenantKeyWithVersions[]>;
  /**
   * Adds a version (creating the key on version 1). Returns false, writing nothing, when
   * that (name, version) already exists: another caller won the race.
   */
  insertVersion(record: TenantKeyVersion): Promise<boolean>;
  /** Raises the minimum to `version` if lower; returns the key afterwards (undefined if absent). */
  raiseMinDecryptionVersion(name: string, version: number): Promise<TenantKey | undefined>;
  /** Adds to encryption counters atomically. */
  addEncryptions(increments: readonly { name: string; version: number; count: number }[]): Promise<void>;
  /** Deletes the key and every wrapped DEK; returns how many versions were deleted. */
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
