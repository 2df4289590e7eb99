// Expiry status of a key: a label and how loudly to show it.

/** Keys expiring within this many days (or already expired) are highlighted. */
export const EXPIRY_WARNING_DAYS = 14;

export type ExpiryTone = "none" | "ok" | "soon" | "expired";

export interface ExpiryStatus {
  label: string;
  tone: ExpiryTone;
}

const DAY_MS = 86_400_000;

/** Whole days from now until `expiresAt` (negative once past), the way the wallet counts them. */
export function daysUntil(expiresAt: Date, now: Date = new Date()): number {
  return Math.floor((expiresAt.getTime() - now.getTime()) / DAY_MS);
}

/**
 * `expiresInDays` is the server's whole-day count (negative once expired), undefined when the
 * key never expires.
 */
export function expiryStatus(expiresInDays: number | undefined): ExpiryStatus {
  if (expiresInDays === undefined) return { label: "no expiry", tone: "none" };
  if (expiresInDays < 0) return { label: "expired", tone: "expired" };
  const tone: ExpiryTone = expiresInDays <= EXPIRY_WARNING_DAYS ? "soon" : "ok";
  if (expiresInDays === 0) return { label: "expires today", tone };
  if (expiresInDays === 1) return { label: "expires in 1 day", tone };
  return { label: `expires in ${expiresInDays} days`, tone };
}

/** True when the expiry deserves attention: expired or within EXPIRY_WARNING_DAYS. */
export function expiryNeedsAttention(expiresInDays: number | undefined): boolean {
  const { tone } = expiryStatus(expiresInDays);
  return tone === "soon" || tone === "expired";
}
