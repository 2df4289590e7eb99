// Finding keys in the list: search by name or provider, sort, and group a provider's keys.
import { expiryNeedsAttention } from "./expiry.ts";

export interface ListedKey {
  id: string;
  provider: string;
  name: string;
  isDefault: boolean;
  /** Milliseconds since the epoch, or undefined when never used. */
  lastUsed: number | undefined;
  /** Whole days until expiry (negative once expired), undefined without an expiry. */
  expiresInDays: number | undefined;
  baseUrl?: string;
}

export type SortOrder = "provider" | "name" | "lastUsed" | "expiry";

export const SORT_LABELS: Record<SortOrder, string> = {
  provider: "Provider",
  name: "Name",
  lastUsed: "Last used",
  expiry: "Expiry",
};

const collator = new Intl.Collator("en", { sensitivity: "base", numeric: true });

/**
 * Keys whose name, provider id, provider name or base URL contains every word of the query
 * (case- and accent-insensitive). An empty query keeps them all.
 */
export function searchKeys<K extends ListedKey>(
  keys: readonly K[],
  query: string,
  providerName: (id: string) => string,
): K[] {
  const words = fold(query).split(/\s+/).filter(Boolean);
  if (words.length === 0) return [...keys];
  return keys.filter((k) => {
    const hay = fold(`${k.name} ${k.provider} ${providerName(k.provider)} ${k.baseUrl ?? ""}`);
    return words.every((w) => hay.includes(w));
  });
}

function fold(text: string): string {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

/**
 * Sorted copy. provider: by provider name, the default first, then by name. name: by name.
 * lastUsed: most recent first, never-used last. expiry: soonest (or longest expired) first,
 * keys without an expiry last. Ties fall back to the name, so the order is stable.
 */
export function sortKeys<K extends ListedKey>(
  keys: readonly K[],
  order: SortOrder,
  providerName: (id: string) => string,
): K[] {
  const byName = (a: K, b: K) => collator.compare(a.name, b.name) || a.id.localeCompare(b.id);
  const cmp: Record<SortOrder, (a: K, b: K) => number> = {
    provider: (a, b) =>
      collator.compare(providerName(a.provider), providerName(b.provider)) ||
      Number(b.isDefault) - Number(a.isDefault) ||
      byName(a, b),
    name: (a, b) => byName(a, b) || collator.compare(providerName(a.provider), providerName(b.provider)),
    lastUsed: (a, b) => (b.lastUsed ?? -Infinity) - (a.lastUsed ?? -Infinity) || byName(a, b),
    expiry: (a, b) => (a.expiresInDays ?? Infinity) - (b.expiresInDays ?? Infinity) || byName(a, b),
  };
  return [...keys].sort((a, b) => {
    const r = cmp[order](a, b);
    return Number.isNaN(r) ? byName(a, b) : r;
  });
}

export interface KeyGroup<K> {
  provider: string;
  keys: K[];
}

/** Consecutive keys of the same provider, in the given order (sort by provider first to group them all). */
export function groupByProvider<K extends ListedKey>(keys: readonly K[]): KeyGroup<K>[] {
  const groups: KeyGroup<K>[] = [];
  for (const k of keys) {
    const last = groups.at(-1);
    if (last && last.provider === k.provider) last.keys.push(k);
    else groups.push({ provider: k.provider, keys: [k] });
  }
  return groups;
}

export interface AttentionSummary {
  total: number;
  expired: number;
  expiringSoon: number;
  invalid: number;
}

/**
 * What the reminder banner and the navigation count say: keys expired or expiring within 14
 * days, and keys their provider marked invalid (or out of quota). A key counts once in `total`.
 */
export function attentionSummary(
  keys: readonly { status: string | undefined; expiresInDays: number | undefined }[],
): AttentionSummary {
  const s: AttentionSummary = { total: 0, expired: 0, expiringSoon: 0, invalid: 0 };
  for (const k of keys) {
    const expired = k.expiresInDays !== undefined && k.expiresInDays < 0;
    const soon = !expired && expiryNeedsAttention(k.expiresInDays);
    const invalid = k.status === "invalid" || k.status === "quota_exceeded";
    if (expired) s.expired++;
    if (soon) s.expiringSoon++;
    if (invalid) s.invalid++;
    if (expired || soon || invalid) s.total++;
  }
  return s;
}

/** "2 keys need attention: 1 expired, 1 invalid." */
export function attentionSentence(s: AttentionSummary): string {
  if (s.total === 0) return "";
  const parts: string[] = [];
  if (s.expired) parts.push(`${s.expired} expired`);
  if (s.expiringSoon) parts.push(`${s.expiringSoon} expiring within 14 days`);
  if (s.invalid) parts.push(`${s.invalid} invalid or out of quota`);
  const head = s.total === 1 ? "1 key needs attention" : `${s.total} keys need attention`;
  return `${head}: ${parts.join(", ")}.`;
}
