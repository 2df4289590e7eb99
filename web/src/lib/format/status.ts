// Validation status badges ("valid", "invalid", …) and what needs attention.
import { ATTENTION_STATUSES, type ValidationStatus } from "@cv-wallet/proto/catalog";
import { expiryNeedsAttention } from "./expiry.ts";
import { relativeTime } from "./time.ts";

export type BadgeTone = "good" | "bad" | "warn" | "neutral";

export interface Badge {
  label: string;
  tone: BadgeTone;
}

const BADGES: Record<ValidationStatus, Badge> = {
  valid: { label: "valid", tone: "good" },
  invalid: { label: "invalid", tone: "bad" },
  quota_exceeded: { label: "quota exceeded", tone: "bad" },
  rate_limited: { label: "rate limited", tone: "warn" },
  unreachable: { label: "unreachable", tone: "warn" },
  unverified: { label: "unverified", tone: "neutral" },
};

/** The one wording for a key no check has looked at (the list, the key page, messages). */
export const NOT_CHECKED = "not checked yet";

/**
 * The badge for a validation status; unknown or empty statuses read as "unverified", and an
 * unverified key that was never checked (`checked` false) as "not checked yet".
 */
export function validationBadge(status: string | undefined, checked = true): Badge {
  if (!checked && (!status || status === "unverified")) return { label: NOT_CHECKED, tone: "neutral" };
  return BADGES[(status ?? "") as ValidationStatus] ?? { label: "unverified", tone: "neutral" };
}

/** "checked 3 h ago", or "not checked yet". */
export function checkedLabel(checkedAt: Date | undefined, now: Date = new Date()): string {
  if (!checkedAt) return NOT_CHECKED;
  const rel = relativeTime(checkedAt, now);
  return `checked ${rel}`;
}

/** "retry in 30 s" for a rate-limited check, when the provider said how long. */
export function retryLabel(seconds: number | undefined): string | undefined {
  if (seconds === undefined || seconds <= 0) return undefined;
  if (seconds < 120) return `retry in ${seconds} s`;
  return `retry in ${Math.ceil(seconds / 60)} min`;
}

/** The same rule as the wallet's `needs_attention` filter: invalid, quota, expired or expiring soon. */
export function needsAttention(status: string | undefined, expiresInDays: number | undefined): boolean {
  return (ATTENTION_STATUSES as readonly string[]).includes(status ?? "") || expiryNeedsAttention(expiresInDays);
}

export interface CreditFigures {
  limit?: number;
  limitRemaining?: number;
  usage: number;
  isFreeTier: boolean;
}

/** OpenRouter's figures: "credits left: 4.90 of 10.00", or "used 1.20, no limit". */
export function creditsLabel(credits: CreditFigures | undefined): string | undefined {
  if (!credits) return undefined;
  const money = (n: number) => n.toFixed(2);
  const tier = credits.isFreeTier ? " (free tier)" : "";
  if (credits.limitRemaining !== undefined) {
    const of = credits.limit !== undefined ? ` of ${money(credits.limit)}` : "";
    return `credits left: ${money(credits.limitRemaining)}${of}${tier}`;
  }
  return `used ${money(credits.usage)}, no limit${tier}`;
}
