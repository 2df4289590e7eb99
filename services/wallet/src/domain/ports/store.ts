// The store ports: one per aggregate, implemented by the SQLite and MongoDB adapters and
// checked by one contract suite. Records are plain objects; ids are 24 hex characters so
// the same id works as a MongoDB _id and a SQLite primary key. Uniqueness and atomic
// counters are the store's job (several wallet processes may share it), so a lost race
// surfaces as an already_exists AppError, never as a half-applied write.
import type { ProviderCredits, ValidationStatus } from "./key-check.ts";

export type { ValidationStatus };

export interface UserRecord {
  id: string;
  email: string;
  passwordHash: string;
  createdAt: Date;
}

export interface SessionRecord {
  /** A public id, safe for audit events; the cookie value is only stored as secretHash. */
  id: string;
  secretHash: string;
  userId: string;
  createdAt: Date;
  expiresAt: Date;
  /** Where the session was started from (shown to its owner). */
  address?: string | undefined;
  /** The User-Agent at sign-in, at most 256 characters. */
  userAgent?: string | undefined;
  /** Last use, written at most once a minute. */
  lastSeenAt?: Date | undefined;
}

export interface TokenRecord {
  id: string;
  userId: string;
  name: string;
  /** SHA-256 of the whole token, hex. */
  hash: string;
  prefix: string;
  scopes: string[];
  /** Provider ids the token may read; empty means all. */
  providers: string[];
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt?: Date | undefined;
  revokedAt?: Date | undefined;
  /** The token that created this one; undefined when a browser session did. */
  parentId?: string | undefined;
}

export interface ValidationRecord {
  status: ValidationStatus;
  checkedAt?: Date | undefined;
  detail: string;
  credits?: ProviderCredits | undefined;
  retryAfterSeconds?: number | undefined;
}

export interface KeyRecord {
  id: string;
  userId: string;
  provider: string;
  name: string;
  ciphertext: string;
  keyVersion: number;
  last4: string;
  baseUrl?: string | undefined;
  expiresAt?: Date | undefined;
  isDefault: boolean;
  usageCount: number;
  lastUsedAt?: Date | undefined;
  validation?: ValidationRecord | undefined;
  createdAt: Date;
  updatedAt: Date;
}

export interface KeyListFilter {
  provider?: string | undefined;
  /** Only keys expiring at or before this instant (expired ones included). */
  expiringBefore?: Date | undefined;
  /** Invalid or out of quota, or expiring at or before this instant. */
  needsAttentionBefore?: Date | undefined;
  /** Only these providers (a token's allow-list). */
  providersIn?: string[] | undefined;
}

export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page; undefined on the last one. */
  next?: string | undefined;
}

export interface KeyPatch {
  name?: string | undefined;
  ciphertext?: string | undefined;
  keyVersion?: number | undefined;
  last4?: string | undefined;
  /** null clears it. */
  expiresAt?: Date | null | undefined;
  isDefault?: boolean | undefined;
  /** null clears it. */
  baseUrl?: string | null | undefined;
  /** Set together with a new secret: the old result no longer applies. */
  validation?: ValidationRecord | undefined;
  updatedAt: Date;
}

/** A key record as the re-wrap command sees it: whose it is and what is stored. */
export interface StoredCiphertext {
  id: string;
  userId: string;
  ciphertext: string;
  keyVersion: number;
}

export interface AuditRecord {
  id: string;
  userId: string;
  action: string;
  actor: { type: string; id: string; name: string };
  target: { type: string; id: string; name: string };
  time: Date;
  address: string;
  userAgent: string;
  details: Record<string, string>;
}

export interface UserStore {
  /** already_exists when the email is taken. */
  create(user: UserRecord): Promise<void>;
  byEmail(email: string): Promise<UserRecord | undefined>;
  byId(id: string): Promise<UserRecord | undefined>;
  setPasswordHash(id: string, passwordHash: string): Promise<void>;
  /** Deletes the user and everything it owns. */
  delete(id: string): Promise<void>;
}

export interface SessionStore {
  create(session: SessionRecord): Promise<void>;
  /** Only an unexpired session. */
  bySecretHash(secretHash: string, now: Date): Promise<SessionRecord | undefined>;
  delete(id: string): Promise<void>;
  /** The user's unexpired sessions, the most recently seen (or started) first. */
  listByUser(userId: string, now: Date): Promise<SessionRecord[]>;
  /** Ends one of the user's sessions; false when the user has no session with the id. */
  deleteOwned(userId: string, id: string): Promise<boolean>;
  /** Ends every session of the user except `keepId`; returns how many ended. */
  deleteOthers(userId: string, keepId: string): Promise<number>;
  touch(id: string, at: Date): Promise<void>;
}

export interface TokenStore {
  create(token: TokenRecord): Promise<void>;
  byHash(hash: string): Promise<TokenRecord | undefined>;
  /** byHash and its owner (undefined if gone) together: one store read on every token-authenticated request. */
  byHashWithUser(hash: string): Promise<{ token: TokenRecord; user: UserRecord | undefined } | undefined>;
  list(userId: string): Promise<TokenRecord[]>;
  get(userId: string, id: string): Promise<TokenRecord | undefined>;
  /**
   * Revokes the token and every token descended from it (minted by it, or by one it minted, …)
   * at once. Returns the ids revoked, the named one first; empty when no unrevoked token of
   * this user has the id.
   */
  revoke(userId: string, id: string, at: Date): Promise<string[]>;
  touch(id: string, at: Date): Promise<void>;
}

export interface KeyStore {
  /** already_exists on a duplicate (user, provider, name). Clears other defaults if isDefault. */
  create(key: KeyRecord): Promise<void>;
  get(userId: string, id: string): Promise<KeyRecord | undefined>;
  /** The named key, or the default, or else the newest key of the provider. */
  forProvider(userId: string, provider: string, name?: string): Promise<KeyRecord | undefined>;
  hasDefault(userId: string, provider: string): Promise<boolean>;
  list(userId: string, filter: KeyListFilter, pageSize: number, cursor?: string): Promise<Page<KeyRecord>>;
  /** Applies the patch; clears the provider's other defaults when isDefault becomes true. */
  update(userId: string, id: string, patch: KeyPatch): Promise<KeyRecord | undefined>;
  delete(userId: string, id: string): Promise<boolean>;
  /**
   * Atomically: usageCount + 1, lastUsedAt = at, that UTC day's counter + 1, and the audit
   * event when given (one transaction on SQLite). Returns the new count; 0 (and no event)
   * when the key is not the user's.
   */
  recordUse(userId: string, id: string, at: Date, event?: AuditRecord): Promise<number>;
  /** Per-day counts (YYYY-MM-DD) from `fromDay` to `toDay` inclusive; days without use absent. */
  usage(userId: string, id: string, fromDay: string, toDay: string): Promise<Map<string, number>>;
  setValidation(userId: string, id: string, validation: ValidationRecord): Promise<void>;
  /** Keys whose last check is older than `before` (or never ran), oldest first. */
  dueForValidation(before: Date, limit: number): Promise<KeyRecord[]>;
  /** Up to `limit` records of every user with id > `afterId` ("" for the start), in id order. */
  pageCiphertexts(afterId: string, limit: number): Promise<StoredCiphertext[]>;
  /**
   * Compare-and-set: replaces ciphertext and keyVersion only if the stored ciphertext is still
   * `expected`; false when the record changed or went. A re-encryption, not an edit: updatedAt
   * keeps the user's last change.
   */
  replaceCiphertext(id: string, expected: string, next: { ciphertext: string; keyVersion: number }): Promise<boolean>;
  /** How many of the user's records are below `version`. */
  countBelowVersion(userId: string, version: number): Promise<number>;
}

export interface AuditStore {
  append(event: AuditRecord): Promise<void>;
  list(userId: string, action: string | undefined, pageSize: number, cursor?: string): Promise<Page<AuditRecord>>;
  /** Deletes every event older than `before` (retention); returns how many. */
  prune(before: Date): Promise<number>;
}

export interface Store {
  readonly kind: "sqlite" | "mongodb";
  users: UserStore;
  sessions: SessionStore;
  tokens: TokenStore;
  keys: KeyStore;
  audit: AuditStore;
  /** Throws when the store cannot answer (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
