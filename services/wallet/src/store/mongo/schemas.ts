// Mongoose schemas for the wallet's collections. The uniqueness rules live in indexes so
// they hold across wallet processes: one email per account, unique (owner, provider, name)
// per key, at most one default per (owner, provider) (a partial unique index, and the store's ordered switch where a server lacks those), one usage
// counter per key and day; sessions expire through a TTL index.

import {
  PROVIDER_IDS,
  RECORD_ID_PATTERN,
  TEAM_ROLES,
  TOKEN_SCOPES,
  VALIDATION_STATUSES,
} from "@cv-wallet/proto/catalog";
import { Schema } from "mongoose";
import type {
  AuditRecord,
  InvitationRecord,
  KeyNotice,
  KeyRecord,
  MembershipRecord,
  SessionRecord,
  TeamRecord,
  TokenRecord,
  UserRecord,
  WebhookDeliveryRecord,
  WebhookRecord,
} from "../port.ts";

/** A port record as a document: the same fields, field `K` as `_id`. */
type StoredBy<R, K extends keyof R> = Omit<R, K> & { _id: string };
/** A port record as a document: the same fields, its id as `_id` (so one id works in both stores). */
type Stored<R extends { id: string }> = StoredBy<R, "id">;

const ID = { type: String, required: true, match: RECORD_ID_PATTERN };

/** An account as stored: the port's record with its id as `_id`. */
export type UserDoc = Stored<UserRecord>;
export const userSchema = new Schema<UserDoc>(
  {
    _id: ID,
    email: { type: String, required: true, lowercase: true, trim: true, maxlength: 254 },
    passwordHash: { type: String, required: true },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, id: false },
);
userSchema.index({ email: 1 }, { unique: true });

/** A session as stored: the port's record with its id as `_id`. */
export type SessionDoc = Stored<SessionRecord>;
export const sessionSchema = new Schema<SessionDoc>(
  {
    _id: ID,
    secretHash: { type: String, required: true },
    userId: { ...ID },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    address: { type: String, default: "" },
    userAgent: { type: String, default: "", maxlength: 256 },
    lastSeenAt: Date,
  },
  { versionKey: false, id: false },
);
sessionSchema.index({ secretHash: 1 }, { unique: true });
sessionSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });
sessionSchema.index({ userId: 1 });

/** An access token as stored: the port's record with its id as `_id`. */
export type TokenDoc = Stored<TokenRecord>;
export const tokenSchema = new Schema<TokenDoc>(
  {
    _id: ID,
    userId: { ...ID },
    name: { type: String, required: true, maxlength: 100 },
    hash: { type: String, required: true, match: /^[0-9a-f]{64}$/ },
    prefix: { type: String, required: true },
    scopes: { type: [{ type: String, enum: [...TOKEN_SCOPES] }], default: [] },
    providers: { type: [{ type: String, enum: [...PROVIDER_IDS] }], default: [] },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    lastUsedAt: Date,
    revokedAt: Date,
    teamId: { type: String, match: RECORD_ID_PATTERN },
    parentId: { type: String, match: RECORD_ID_PATTERN },
  },
  { versionKey: false, id: false },
);
tokenSchema.index({ hash: 1 }, { unique: true });
tokenSchema.index({ userId: 1, parentId: 1 });
tokenSchema.index({ userId: 1, createdAt: -1 });
tokenSchema.index({ teamId: 1 }, { sparse: true });

const creditsSchema = new Schema(
  { label: String, limit: Number, limitRemaining: Number, usage: Number, isFreeTier: Boolean },
  { _id: false, id: false },
);
const validationSchema = new Schema(
  {
    status: { type: String, enum: [...VALIDATION_STATUSES], required: true },
    checkedAt: Date,
    detail: { type: String, maxlength: 200, default: "" },
    credits: creditsSchema,
    retryAfterSeconds: Number,
  },
  { _id: false, id: false },
);

/** An API-key record as stored: the port's record with its id as `_id`. */
export type ApiKeyDoc = Stored<KeyRecord> & { defaultSince?: Date | undefined };
export const apiKeySchema = new Schema<ApiKeyDoc>(
  {
    _id: ID,
    // The owner partition: a user's id, or a team's for a team key (teamId set).
    userId: { ...ID },
    teamId: { type: String, match: RECORD_ID_PATTERN },
    provider: { type: String, required: true, enum: [...PROVIDER_IDS] },
    name: { type: String, required: true, maxlength: 100 },
    // Only ciphertext: `cvw:v<version>:<base64url>` from the crypto service.
    ciphertext: { type: String, required: true, match: /^cvw:v\d+:[A-Za-z0-9_-]+$/ },
    keyVersion: { type: Number, required: true, min: 1 },
    last4: { type: String, required: true, maxlength: 4 },
    baseUrl: { type: String, maxlength: 2048 },
    expiresAt: Date,
    isDefault: { type: Boolean, required: true, default: false },
    // When the key last became its provider's default (server clock); orders concurrent switches.
    defaultSince: Date,
    usageCount: { type: Number, required: true, default: 0, min: 0 },
    lastUsedAt: Date,
    prefixProvider: { type: String, enum: [...PROVIDER_IDS] },
    revealCount: { type: Number, required: true, default: 0, min: 0 },
    lastRevealedAt: Date,
    validation: validationSchema,
    // When each reminder was claimed: a copy of key_notice_claims that reads and the reminder scan use.
    notices: new Schema({ expiring: Date, expired: Date, invalid: Date } satisfies Record<KeyNotice, DateConstructor>, {
      _id: false,
      id: false,
    }),
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, id: false },
);
apiKeySchema.index({ userId: 1, provider: 1, name: 1 }, { unique: true, name: "owner_provider_name" });
apiKeySchema.index(
  { userId: 1, provider: 1 },
  { unique: true, partialFilterExpression: { isDefault: true }, name: "one_default_per_provider" },
);
apiKeySchema.index({ userId: 1, createdAt: -1, _id: -1 }, { name: "list" });
apiKeySchema.index({ "validation.checkedAt": 1 }, { name: "due_for_validation" });
// The reminder scan: expiring keys in expiry order (keys without an expiry sort first, below the range).
apiKeySchema.index({ expiresAt: 1, _id: 1 }, { name: "due_for_reminder" });

/**
 * A won reminder claim, one per (key, notice): `_id` is `<keyId>:<notice>`, so the insert's
 * unique `_id` decides which of several wallet processes sends it. A conditional update of the
 * key cannot: FerretDB v1 applies it as read, change, write, and concurrent ones all "win".
 */
export interface KeyNoticeClaimDoc {
  _id: string;
  keyId: string;
  notice: KeyNotice;
  at: Date;
}
export const keyNoticeClaimSchema = new Schema<KeyNoticeClaimDoc>(
  {
    _id: { type: String, required: true },
    keyId: { ...ID },
    notice: { type: String, required: true, enum: ["expiring", "expired", "invalid"] },
    at: { type: Date, required: true },
  },
  { versionKey: false, id: false },
);
keyNoticeClaimSchema.index({ keyId: 1 }, { name: "by_key" });

export interface UsageDoc {
  keyId: string;
  userId: string;
  day: string;
  /** Retrievals. */
  count: number;
  reveals?: number;
  /** Retrievals by access token id. */
  tokens?: Map<string, number> | Record<string, number>;
}
export const usageSchema = new Schema<UsageDoc>(
  {
    keyId: { ...ID },
    userId: { ...ID },
    day: { type: String, required: true, match: /^\d{4}-\d{2}-\d{2}$/ },
    count: { type: Number, required: true, min: 0 },
    reveals: { type: Number, min: 0 },
    tokens: { type: Map, of: Number },
  },
  { versionKey: false, id: false },
);
usageSchema.index({ keyId: 1, day: 1 }, { unique: true });
usageSchema.index({ userId: 1 });

const partySchema = new Schema(
  {
    type: { type: String, required: true },
    id: { type: String, default: "" },
    name: { type: String, default: "" },
    userId: { type: String, match: RECORD_ID_PATTERN },
  },
  { _id: false, id: false },
);
/** An audit event as stored: the port's record with its id as `_id`. */
export type AuditDoc = Stored<AuditRecord>;
export const auditSchema = new Schema<AuditDoc>(
  {
    _id: ID,
    // Whose log: a user's id, or a team's for a team event (teamId set).
    userId: { ...ID },
    teamId: { type: String, match: RECORD_ID_PATTERN },
    action: { type: String, required: true, maxlength: 64 },
    actor: { type: partySchema, required: true },
    target: { type: partySchema, required: true },
    time: { type: Date, required: true },
    address: { type: String, default: "" },
    userAgent: { type: String, default: "", maxlength: 256 },
    details: { type: Map, of: String, default: {} },
  },
  { versionKey: false, id: false },
);
auditSchema.index({ userId: 1, time: -1, _id: -1 });
auditSchema.index({ userId: 1, action: 1, time: -1, _id: -1 });
auditSchema.index({ userId: 1, "target.id": 1, time: -1, _id: -1 }, { name: "by_target" });

/**
 * A team as stored. ownerCount is the team's number of owners, changed only by guarded
 * `$inc`s, so two concurrent demotions cannot both take the last owner (no transactions needed).
 */
export type TeamDoc = Stored<TeamRecord> & { ownerCount: number };
export const teamSchema = new Schema<TeamDoc>(
  {
    _id: ID,
    name: { type: String, required: true, maxlength: 100 },
    createdAt: { type: Date, required: true },
    ownerCount: { type: Number, required: true, min: 0 },
  },
  { versionKey: false, id: false },
);

/** A membership as stored; one per (team, user). */
export type MemberDoc = MembershipRecord;
export const memberSchema = new Schema<MemberDoc>(
  {
    teamId: { ...ID },
    userId: { ...ID },
    role: { type: String, required: true, enum: [...TEAM_ROLES] },
    createdAt: { type: Date, required: true },
  },
  { versionKey: false, id: false },
);
memberSchema.index({ teamId: 1, userId: 1 }, { unique: true, name: "one_membership" });
memberSchema.index({ userId: 1 });

/** An invitation as stored: only the code's hash. */
export type InvitationDoc = Stored<InvitationRecord>;
export const invitationSchema = new Schema<InvitationDoc>(
  {
    _id: ID,
    teamId: { ...ID },
    email: { type: String, required: true, lowercase: true, maxlength: 254 },
    role: { type: String, required: true, enum: [...TEAM_ROLES] },
    codeHash: { type: String, required: true, match: /^[0-9a-f]{64}$/ },
    invitedBy: { ...ID },
    invitedByEmail: { type: String, default: "" },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    acceptedAt: Date,
    acceptedBy: { type: String, match: RECORD_ID_PATTERN },
  },
  { versionKey: false, id: false },
);
invitationSchema.index({ codeHash: 1 }, { unique: true });
invitationSchema.index({ teamId: 1, createdAt: -1 });

const grantSchema = new Schema(
  {
    scopes: { type: [String], default: [] },
    providers: { type: [String], default: [] },
    expiresInDays: { type: Number, required: true, min: 1, max: 365 },
    teamId: { type: String, match: RECORD_ID_PATTERN },
  },
  { _id: false, id: false },
);
/** A device sign-in request as stored: only hashes of its codes. */
export type DeviceRequestDoc = Stored<import("../port.ts").DeviceRequestRecord>;
export const deviceRequestSchema = new Schema<DeviceRequestDoc>(
  {
    _id: ID,
    deviceCodeHash: { type: String, required: true, match: /^[0-9a-f]{64}$/ },
    userCodeHash: { type: String, required: true, match: /^[0-9a-f]{64}$/ },
    clientId: { type: String, required: true, maxlength: 100 },
    clientHost: { type: String, default: "", maxlength: 255 },
    clientRepository: { type: String, default: "", maxlength: 512 },
    tokenName: { type: String, required: true, maxlength: 100 },
    address: { type: String, default: "" },
    userAgent: { type: String, default: "", maxlength: 256 },
    scopes: { type: [{ type: String, enum: [...TOKEN_SCOPES] }], default: [] },
    providers: { type: [{ type: String, enum: [...PROVIDER_IDS] }], default: [] },
    createdAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
    intervalSeconds: { type: Number, required: true, min: 1 },
    lastPolledAt: Date,
    status: { type: String, required: true, enum: ["pending", "approved", "denied", "used"] },
    userId: { type: String, match: RECORD_ID_PATTERN },
    decidedAt: Date,
    decidedBy: partySchema,
    grant: grantSchema,
    tokenId: String,
  },
  { versionKey: false, id: false },
);
deviceRequestSchema.index({ deviceCodeHash: 1 }, { unique: true });
deviceRequestSchema.index({ userCodeHash: 1 }, { unique: true });
// Removed an hour after expiry, so a late poll still hears expired_token for a while.
deviceRequestSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 3600 });

/**
 * A person's reminder webhook, keyed by its owner: `_id` is the user id, so the primary key
 * keeps one per person and a replacement is one atomic replace. Its last delivery is kept
 * apart (WebhookDeliveryDoc).
 */
export type WebhookDoc = StoredBy<Omit<WebhookRecord, "lastDelivery">, "userId">;
export const webhookSchema = new Schema<WebhookDoc>(
  {
    _id: ID,
    id: { ...ID },
    // Only ciphertext: the URL's path is a secret.
    ciphertext: { type: String, required: true, match: /^cvw:v\d+:[A-Za-z0-9_-]+$/ },
    keyVersion: { type: Number, required: true, min: 1 },
    host: { type: String, required: true, maxlength: 255 },
    hint: { type: String, required: true, maxlength: 300 },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, id: false },
);

/**
 * The last delivery to one webhook, keyed by the webhook's id: a delivery that finishes after
 * its webhook was replaced lands on the old id, which no read shows. Kept out of the webhook
 * document because FerretDB v1 writes a whole document back on update, so a late update of
 * it could bring a replaced webhook (and its URL) back.
 */
export type WebhookDeliveryDoc = WebhookDeliveryRecord & { _id: string; userId: string };
export const webhookDeliverySchema = new Schema<WebhookDeliveryDoc>(
  {
    _id: ID,
    userId: { ...ID },
    at: { type: Date, required: true },
    delivered: { type: Boolean, required: true },
    event: { type: String, required: true, maxlength: 32 },
    detail: { type: String, default: "", maxlength: 1000 },
    attempts: { type: Number, required: true, min: 0 },
  },
  { versionKey: false, id: false },
);
webhookDeliverySchema.index({ userId: 1 }, { name: "by_user" });
