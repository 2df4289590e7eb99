// The store ports: one per aggregate, implemented by the SQLite and MongoDB adapters and
// checked by one contract suite. Records are plain objects; ids are 24 hex characters so
// the same id works as a MongoDB _id and a SQLite primary key. Uniqueness and atomic
// counters are the store's job (several wallet processes may share it), so a lost race
// surfaces as an already_exists AppError, never as a half-applied write.
import type { TeamRoleId } from "@cv-wallet/proto/catalog";
import type { ProviderCredits, ValidationStatus } from "./key-check.ts";

export type { ValidationStatus };
export type TeamRole = TeamRoleId;

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
  /** Scoped to this team: the token reaches that team's keys only. */
  teamId?: string | undefined;
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
  /**
   * The owner partition: the user's id for a personal key; for a team key the team's id
   * (and teamId is set). Every owner-scoped method takes this value.
   */
  userId: string;
  /** The owning team; a team key belongs to the team, not to the member who stored it. */
  teamId?: string | undefined;
  provider: string;
  name: string;
  ciphertext: string;
  keyVersion: number;
  last4: string;
  baseUrl?: string | undefined;
  expiresAt?: Date | undefined;
  isDefault: boolean;
  /** Retrievals through the API (tools), not reveals. */
  usageCount: number;
  lastUsedAt?: Date | undefined;
  /** The provider the secret's prefix belongs to when that is not `provider`; set at save. */
  prefixProvider?: string | undefined;
  /** Reveals by the owner (0 when unset); never part of usageCount. */
  revealCount?: number | undefined;
  lastRevealedAt?: Date | undefined;
  validation?: ValidationRecord | undefined;
  /** When each reminder was sent (claimed): a key reminds once per cause (see KeyNotice). */
  notices?: Partial<Record<KeyNotice, Date>> | undefined;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * The reminders a key sends once: `expiring` when it enters the reminder window, `expired`
 * when its expiry passes, `invalid` when a scheduled check finds it invalid. A new expiry date
 * re-arms the first two; a new secret, or a check that finds the key valid again, re-arms `invalid`.
 */
export type KeyNotice = "expiring" | "expired" | "invalid";

/** One UTC day of a key's use. */
export interface UsageDayRecord {
  retrievals: number;
  reveals: number;
  /** Retrievals by access token id (those made with a session or before this was counted are absent). */
  byToken: Record<string, number>;
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
  /** Moves the key; isDefault then applies among the new provider's keys. */
  provider?: string | undefined;
  name?: string | undefined;
  ciphertext?: string | undefined;
  keyVersion?: number | undefined;
  last4?: string | undefined;
  /** null clears it. Any value given re-arms the `expiring` and `expired` notices. */
  expiresAt?: Date | null | undefined;
  isDefault?: boolean | undefined;
  /** null clears it. */
  baseUrl?: string | null | undefined;
  /** null clears it. */
  prefixProvider?: string | null | undefined;
  /** Set together with a new secret: the old result no longer applies (and `invalid` is re-armed). */
  validation?: ValidationRecord | undefined;
  updatedAt: Date;
}

/** A key record as the re-wrap command sees it: whose it is and what is stored. */
export interface StoredCiphertext {
  id: string;
  userId: string;
  /** Set for a team key (encrypted under the team's key). */
  teamId?: string | undefined;
  ciphertext: string;
  keyVersion: number;
}

/** A webhook as the re-wrap command sees it: its URL's ciphertext is bound to `<id>/webhook_url` under user/<userId>. */
export interface StoredWebhookCiphertext {
  id: string;
  userId: string;
  ciphertext: string;
  keyVersion: number;
}

export interface AuditRecord {
  id: string;
  /** Whose log: a user's id, or for a team event the team's id (and teamId is set). */
  userId: string;
  /** Set for a team event: it goes to the team's log (AuditStore.listTeam), not a person's. */
  teamId?: string | undefined;
  action: string;
  /** userId: the person behind a session or token (team events), absent for the system. */
  actor: { type: string; id: string; name: string; userId?: string | undefined };
  target: { type: string; id: string; name: string };
  time: Date;
  address: string;
  userAgent: string;
  details: Record<string, string>;
}

export interface TeamRecord {
  id: string;
  name: string;
  createdAt: Date;
}

export interface MembershipRecord {
  teamId: string;
  userId: string;
  role: TeamRole;
  createdAt: Date;
}

export interface InvitationRecord {
  id: string;
  teamId: string;
  /** Lowercase; only the account with this email may accept. */
  email: string;
  role: TeamRole;
  /** SHA-256 of the code, hex; the code itself is shown once and never stored. */
  codeHash: string;
  invitedBy: string;
  invitedByEmail: string;
  createdAt: Date;
  expiresAt: Date;
  acceptedAt?: Date | undefined;
  acceptedBy?: string | undefined;
}

/** The outcome of a membership change that must leave the team an owner. */
export type MembershipChange = "ok" | "not_found" | "last_owner";

export interface TeamStore {
  /** The team and its first owner, together. */
  create(team: TeamRecord, owner: MembershipRecord): Promise<void>;
  get(teamId: string): Promise<TeamRecord | undefined>;
  /** The user's teams with the user's role and the member count, oldest first. */
  listForUser(userId: string): Promise<{ team: TeamRecord; role: TeamRole; memberCount: number }[]>;
  /** Read on every team request: a removal or a lowered role applies at once. */
  membership(teamId: string, userId: string): Promise<MembershipRecord | undefined>;
  /** Members with their email, oldest membership first. */
  members(teamId: string): Promise<(MembershipRecord & { email: string })[]>;
  /** Atomically: refuses (last_owner) a change that would leave the team without an owner. */
  setRole(teamId: string, userId: string, role: TeamRole): Promise<MembershipChange>;
  /** Atomically, as setRole. */
  removeMember(teamId: string, userId: string): Promise<MembershipChange>;
  /**
   * Deletes the team and everything it owns: memberships, invitations, keys and their usage,
   * the team's audit log; revokes the tokens scoped to it. False when there was no such team.
   */
  delete(teamId: string, at: Date): Promise<boolean>;
  createInvitation(invitation: InvitationRecord): Promise<void>;
  /** Unused, unexpired invitations, newest first. */
  pendingInvitations(teamId: string, now: Date): Promise<InvitationRecord[]>;
  invitationByCodeHash(codeHash: string): Promise<InvitationRecord | undefined>;
  /** Deletes an unused invitation; false when the team has no such pending one. */
  revokeInvitation(teamId: string, id: string): Promise<boolean>;
  /**
   * Marks the invitation used, if still unused and unexpired at `now`, and adds the member
   * (keeping an existing membership's role). "gone" when it was used or expired meanwhile.
   */
  acceptInvitation(id: string, member: MembershipRecord, now: Date): Promise<"ok" | "gone">;
}

export type DeviceRequestStatus = "pending" | "approved" | "denied" | "used";

/**
 * A device sign-in (RFC 8628). Only hashes of the device code and the (normalised) user code
 * are stored; the tool keeps the device code, the person types the user code.
 */
export interface DeviceRequestRecord {
  id: string;
  /** SHA-256 of the device code, hex. */
  deviceCodeHash: string;
  /** SHA-256 of the normalised user code (8 letters, no dash), hex. */
  userCodeHash: string;
  /** The tool's client_id. */
  clientId: string;
  /** What the tool said about itself (cvw-host, cvw-repository headers); "" when not sent. */
  clientHost: string;
  clientRepository: string;
  /** The token's name once handed out (the tool's `name`, or "<client> on <host>"). */
  tokenName: string;
  /** The requesting address and user agent. */
  address: string;
  userAgent: string;
  scopes: string[];
  /** Provider ids asked for; empty means all. */
  providers: string[];
  createdAt: Date;
  expiresAt: Date;
  /** The polling interval the tool must keep; slow_down raises it by 5 s. */
  intervalSeconds: number;
  lastPolledAt?: Date | undefined;
  status: DeviceRequestStatus;
  /** Set by the approval or denial. */
  userId?: string | undefined;
  decidedAt?: Date | undefined;
  decidedBy?: { type: string; id: string; name: string } | undefined;
  /** What was approved (never more than was asked). */
  grant?: DeviceGrant | undefined;
  /** The token handed out (status used). */
  tokenId?: string | undefined;
}

/** What an approval grants; teamId scopes the token to a team. */
export interface DeviceGrant {
  scopes: string[];
  providers: string[];
  expiresInDays: number;
  teamId?: string | undefined;
}

export interface DeviceDecision {
  status: "approved" | "denied";
  userId: string;
  decidedAt: Date;
  decidedBy: { type: string; id: string; name: string };
  grant?: DeviceGrant | undefined;
}

export interface DeviceRequestStore {
  /**
   * already_exists when the device or user code hash is taken by another live request.
   * Requests expired for more than an hour are removed (a TTL index on MongoDB).
   */
  create(request: DeviceRequestRecord): Promise<void>;
  byUserCodeHash(hash: string): Promise<DeviceRequestRecord | undefined>;
  byDeviceCodeHash(hash: string): Promise<DeviceRequestRecord | undefined>;
  /**
   * A poll of the token endpoint, atomically: lastPolledAt = now, and when the previous poll
   * was less than the interval ago, the interval grows by 5 s (`tooSoon`). The record as
   * updated; undefined for an unknown code.
   */
  poll(deviceCodeHash: string, now: Date): Promise<{ request: DeviceRequestRecord; tooSoon: boolean } | undefined>;
  /** Compare-and-set from pending (and unexpired at `now`); false when already decided or expired. */
  decide(id: string, decision: DeviceDecision, now: Date): Promise<boolean>;
  /** Compare-and-set from approved to used; false when it was not approved (or already used). */
  markUsed(id: string, tokenId: string): Promise<boolean>;
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
  /** A key by id alone, whoever owns it; the caller checks who may see it. */
  byId(id: string): Promise<KeyRecord | undefined>;
  /** The named key, or the default, or else the newest key of the provider. */
  forProvider(userId: string, provider: string, name?: string): Promise<KeyRecord | undefined>;
  hasDefault(userId: string, provider: string): Promise<boolean>;
  list(userId: string, filter: KeyListFilter, pageSize: number, cursor?: string): Promise<Page<KeyRecord>>;
  /**
   * Applies the patch; clears the (new) provider's other defaults when isDefault becomes true.
   * already_exists when a new provider or name clashes with another key's (provider, name).
   */
  update(userId: string, id: string, patch: KeyPatch): Promise<KeyRecord | undefined>;
  delete(userId: string, id: string): Promise<boolean>;
  /**
   * A retrieval, atomically: usageCount + 1, lastUsedAt = at, that UTC day's counter + 1 (and
   * the token's, when `tokenId` is given), and the audit event when given (one transaction on
   * SQLite). Returns the new count; 0 (and no event) when the key is not the user's.
   */
  recordUse(userId: string, id: string, at: Date, event?: AuditRecord, tokenId?: string): Promise<number>;
  /**
   * A reveal, atomically as recordUse: revealCount + 1, lastRevealedAt = at, that UTC day's
   * reveal counter + 1, the audit event. usageCount is not touched. Returns the new revealCount.
   */
  recordReveal(userId: string, id: string, at: Date, event?: AuditRecord): Promise<number>;
  /** Per-day use (YYYY-MM-DD) from `fromDay` to `toDay` inclusive; days without use absent. */
  usage(userId: string, id: string, fromDay: string, toDay: string): Promise<Map<string, UsageDayRecord>>;
  setValidation(userId: string, id: string, validation: ValidationRecord): Promise<void>;
  /** Keys whose last check is older than `before` (or never ran), oldest first. */
  dueForValidation(before: Date, limit: number): Promise<KeyRecord[]>;
  /**
   * Keys of every owner that owe a reminder: an expiry at or before `windowEnd` and no
   * `expiring` notice, or an expiry at or before `now` and no `expired` notice; soonest expiry
   * first, at most `limit`.
   */
  dueForReminder(now: Date, windowEnd: Date, limit: number): Promise<KeyRecord[]>;
  /**
   * Compare-and-set: records `notice` at `at` unless the key already has it. True only for the
   * call that recorded it, so several wallet processes send a reminder once.
   */
  claimNotice(id: string, notice: KeyNotice, at: Date): Promise<boolean>;
  /** Re-arms a notice (clears it); nothing happens when it is not set or the key is gone. */
  releaseNotice(id: string, notice: KeyNotice): Promise<void>;
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
  /** Newest first; `range` keeps events with from <= time < to. */
  list(
    userId: string,
    action: string | undefined,
    pageSize: number,
    cursor?: string,
    range?: { from?: Date | undefined; to?: Date | undefined },
  ): Promise<Page<AuditRecord>>;
  /**
   * The newest `limit` events about one target with one of `actions`, newest first, from the
   * log of `userId`: a user's id, or a team's id for the team's log.
   */
  listForTarget(userId: string, targetId: string, actions: string[], limit: number): Promise<AuditRecord[]>;
  /** A team's log, newest first; actorId matches the actor's id or the person behind it. */
  listTeam(
    teamId: string,
    filter: { action?: string | undefined; actorId?: string | undefined },
    pageSize: number,
    cursor?: string,
  ): Promise<Page<AuditRecord>>;
  /** Deletes every event older than `before` (retention); returns how many. */
  prune(before: Date): Promise<number>;
}

/** The outcome of one webhook delivery, after its retries. */
export interface WebhookDeliveryRecord {
  at: Date;
  delivered: boolean;
  /** "test", or the KeyNotice sent. */
  event: string;
  /** Short and path-free, e.g. "HTTP 200 from hooks.slack.com". */
  detail: string;
  attempts: number;
}

/** A person's reminder webhook (at most one). */
export interface WebhookRecord {
  /** 24 hex; binds the ciphertext to this record (encryption context `<id>/webhook_url`). */
  id: string;
  userId: string;
  /** The URL, encrypted under the owner's tenant key: a webhook URL's path is a secret. */
  ciphertext: string;
  keyVersion: number;
  /** Shown to the owner instead of the URL: its host, and host + last 4 characters. */
  host: string;
  hint: string;
  createdAt: Date;
  updatedAt: Date;
  lastDelivery?: WebhookDeliveryRecord | undefined;
}

export interface WebhookStore {
  get(userId: string): Promise<WebhookRecord | undefined>;
  /** Creates the user's webhook or replaces it (one per user); lastDelivery starts empty. */
  put(webhook: WebhookRecord): Promise<void>;
  /** False when the user had none. */
  delete(userId: string): Promise<boolean>;
  /** Notes the latest delivery; nothing happens when the webhook was replaced (`id` differs) or removed. */
  recordDelivery(userId: string, id: string, delivery: WebhookDeliveryRecord): Promise<void>;
  /** For the re-wrap command: up to `limit` webhooks of users with id > `afterUserId` ("" for the start), in user id order. */
  pageCiphertexts(afterUserId: string, limit: number): Promise<StoredWebhookCiphertext[]>;
  /**
   * Compare-and-set, as KeyStore.replaceCiphertext: replaces ciphertext and keyVersion only if
   * the user's stored webhook still has `expected`; false when it was replaced or removed
   * meanwhile. A re-encryption, not an edit: updatedAt and the last delivery stay.
   */
  replaceCiphertext(
    userId: string,
    expected: string,
    next: { ciphertext: string; keyVersion: number },
  ): Promise<boolean>;
  /** 1 when the user's webhook is encrypted below `version`, else 0 (none, or current): a count, like KeyStore's. */
  countBelowVersion(userId: string, version: number): Promise<number>;
}

export interface Store {
  readonly kind: "sqlite" | "mongodb";
  users: UserStore;
  sessions: SessionStore;
  tokens: TokenStore;
  keys: KeyStore;
  audit: AuditStore;
  teams: TeamStore;
  deviceRequests: DeviceRequestStore;
  webhooks: WebhookStore;
  /** Throws when the store cannot answer (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
