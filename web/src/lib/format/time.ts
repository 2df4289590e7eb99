// Times as people read them: "3 h ago", "in 5 min", "never".
import { type Timestamp, timestampDate } from "@bufbuild/protobuf/wkt";

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/** A short relative time: "just now", "5 min ago", "3 h ago", "2 days ago", "on 2026-01-31". */
export function relativeTime(date: Date | undefined, now: Date = new Date()): string {
  if (!date) return "never";
  const diff = Math.round((now.getTime() - date.getTime()) / 1000);
  const future = diff < 0;
  const s = Math.abs(diff);
  let span: string;
  if (s < 45) return "just now";
  if (s < HOUR) span = `${Math.max(1, Math.round(s / MINUTE))} min`;
  else if (s < DAY) span = `${Math.floor(s / HOUR)} h`;
  else if (s < 30 * DAY) span = plural(Math.floor(s / DAY), "day");
  else return `on ${isoDate(date)}`;
  return future ? `in ${span}` : `${span} ago`;
}

/** YYYY-MM-DD in UTC. */
export function isoDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** An expiry's date, the one style used for every expiry (keys and tokens): the UTC day, YYYY-MM-DD. */
export function expiryDate(date: Date): string {
  return isoDate(date);
}

/** "2026-11-26 14:03 UTC": unambiguous, sortable, the same for every reader. */
export function dateTime(date: Date | undefined): string {
  if (!date) return "—";
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** The value for an <input type="date"> from a stored expiry (its UTC day). */
export function dateInputValue(date: Date | undefined): string {
  return date ? isoDate(date) : "";
}

/**
 * The expiry for a date picked in an <input type="date">: the end of that day (UTC), so a key
 * that "expires on" a day is still good during it. Undefined for an empty or malformed value.
 */
export function expiryFromDateInput(value: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
  const date = new Date(`${value}T23:59:59.000Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A protobuf Timestamp as a Date; unset stays undefined. */
export function toDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}
