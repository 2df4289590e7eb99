// Store records → contract messages (the shapes both edges send). Masking happens here:
// an ApiKey never carries more of the secret than its last four characters.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type {
  AccessTokenSchema,
  ApiKeySchema,
  AuditEventSchema,
  BrowserSessionSchema,
  KeyValidationSchema,
  UserSchema,
  WebhookDeliverySchema,
  WebhookSchema,
} from "@cv-wallet/proto/wallet/v1";
import { deviceOf } from "./devices.ts";
import type {
  AuditRecord,
  KeyRecord,
  SessionRecord,
  TokenRecord,
  UserRecord,
  ValidationRecord,
  WebhookDeliveryRecord,
  WebhookRecord,
} from "./ports/store.ts";

const DAY_MS = 86_400_000;
const ts = (d: Date | undefined) => (d ? timestampFromDate(d) : undefined);

export const MASK = "••••";

/** Counts on the 32-bit fields clients rely on saturate rather than wrap. */
export function toUint32(n: number): number {
  return Math.min(n, 0xffff_ffff);
}

export function userMessage(u: UserRecord): MessageInitShape<typeof UserSchema> {
  return { id: u.id, email: u.email, createdAt: ts(u.createdAt) };
}

export function validationMessage(v: ValidationRecord | undefined): MessageInitShape<typeof KeyValidationSchema> {
  if (!v) return { status: "unverified", detail: "not checked yet" };
  return {
    status: v.status,
    checkedAt: ts(v.checkedAt),
    detail: v.detail,
    credits: v.credits && {
      label: v.credits.label,
      limit: v.credits.limit,
      limitRemaining: v.credits.limitRemaining,
      usage: v.credits.usage,
      isFreeTier: v.credits.isFreeTier,
    },
    retryAfterSeconds: v.retryAfterSeconds,
  };
}

/** Whole days until expiry, negative once expired (floor, so "expires in 0 days" means today). */
export function expiresInDays(expiresAt: Date | undefined, now = new Date()): number | undefined {
  return expiresAt ? Math.floor((expiresAt.getTime() - now.getTime()) / DAY_MS) : undefined;
}

export function keyMessage(k: KeyRecord, now = new Date()): MessageInitShape<typeof ApiKeySchema> {
  return {
    id: k.id,
    provider: k.provider,
    name: k.name,
    last4: k.last4,
    maskedKey: `${MASK}${k.last4}`,
    isDefault: k.isDefault,
    baseUrl: k.baseUrl ?? "",
    expiresAt: ts(k.expiresAt),
    expiresInDays: expiresInDays(k.expiresAt, now),
    usageCount: BigInt(k.usageCount),
    retrievals: toUint32(k.usageCount),
    lastUsedAt: ts(k.lastUsedAt),
    prefixProvider: k.prefixProvider ?? "",
    revealCount: toUint32(k.revealCount ?? 0),
    lastRevealedAt: ts(k.lastRevealedAt),
    validation: validationMessage(k.validation),
    createdAt: ts(k.createdAt),
    updatedAt: ts(k.updatedAt),
    teamId: k.teamId ?? "",
  };
}

export function tokenMessage(t: TokenRecord): MessageInitShape<typeof AccessTokenSchema> {
  return {
    id: t.id,
    name: t.name,
    scopes: t.scopes,
    providers: t.providers,
    expiresAt: ts(t.expiresAt),
    createdAt: ts(t.createdAt),
    lastUsedAt: ts(t.lastUsedAt),
    prefix: t.prefix,
    teamId: t.teamId ?? "",
    parentId: t.parentId ?? "",
  };
}

export function sessionMessage(s: SessionRecord, current: boolean): MessageInitShape<typeof BrowserSessionSchema> {
  return {
    id: s.id,
    device: deviceOf(s.userAgent),
    address: s.address ?? "",
    createdAt: ts(s.createdAt),
    lastSeenAt: ts(s.lastSeenAt ?? s.createdAt),
    expiresAt: ts(s.expiresAt),
    current,
  };
}

export function auditMessage(e: AuditRecord): MessageInitShape<typeof AuditEventSchema> {
  return {
    id: e.id,
    action: e.action,
    actor: e.actor,
    target: e.target,
    time: ts(e.time),
    address: e.address,
    userAgent: e.userAgent,
    details: e.details,
  };
}

export function webhookDeliveryMessage(d: WebhookDeliveryRecord): MessageInitShape<typeof WebhookDeliverySchema> {
  return { time: ts(d.at), delivered: d.delivered, event: d.event, detail: d.detail, attempts: d.attempts };
}

/** A webhook as its owner sees it: never the URL, whose path is the secret. */
export function webhookMessage(w: WebhookRecord): MessageInitShape<typeof WebhookSchema> {
  return {
    host: w.host,
    hint: w.hint,
    createdAt: ts(w.createdAt),
    updatedAt: ts(w.updatedAt),
    lastDelivery: w.lastDelivery && webhookDeliveryMessage(w.lastDelivery),
  };
}
