// The audit log as people read it: labels for actions, the filter's choices, a date range,
// and the CSV / JSON export of exactly the rows on the page.

/** Every action the wallet records today (services/wallet README), with its label. */
export const ACTION_LABELS: Readonly<Record<string, string>> = {
  "auth.signed_up": "Account created",
  "auth.signed_in": "Signed in",
  "auth.signed_out": "Signed out",
  "auth.account_deleted": "Account deleted",
  "key.created": "Key added",
  "key.updated": "Key changed",
  "key.deleted": "Key deleted",
  "key.retrieved": "Key fetched by a tool",
  "key.revealed": "Key revealed",
  "key.validated": "Key checked",
  "key.viewed": "Key viewed",
  "keys.listed": "Keys listed",
  "token.created": "Token created",
  "token.revoked": "Token revoked",
  "webhook.updated": "Webhook changed",
  "webhook.sent": "Reminder sent",
  "webhook.failed": "Reminder failed",
};

/** The label for an action; one the UI does not know yet reads as words ("team.joined" → "Team joined"). */
export function actionLabel(action: string): string {
  const known = ACTION_LABELS[action];
  if (known) return known;
  const words = action.replace(/[._]+/g, " ").trim();
  return words ? words.charAt(0).toUpperCase() + words.slice(1) : "Unknown action";
}

/**
 * The label for one event: as actionLabel, except that a webhook test's delivery (the same
 * actions as a reminder's, with details.event "test") is not called a reminder.
 */
export function eventLabel(action: string, details: Readonly<Record<string, string>> = {}): string {
  if (details.event === "test") {
    if (action === "webhook.sent") return "Webhook test sent";
    if (action === "webhook.failed") return "Webhook test failed";
  }
  return actionLabel(action);
}

/** The filter's choices: every known action plus any other that appears, sorted by label. */
export function actionOptions(seen: Iterable<string>): { value: string; label: string }[] {
  const all = new Set([...Object.keys(ACTION_LABELS), ...seen]);
  all.delete("");
  return [...all].map((value) => ({ value, label: actionLabel(value) })).sort((a, b) => a.label.localeCompare(b.label));
}

/**
 * The time range of two <input type="date"> values, whole UTC days, either end open:
 * from 2026-11-01 to 2026-11-30 is [2026-11-01T00:00Z, 2026-12-01T00:00Z).
 */
export function dayRange(from: string, to: string): { start: number | undefined; end: number | undefined } {
  const day = (v: string) => (/^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : Number.NaN);
  const s = day(from);
  const e = day(to);
  return { start: Number.isNaN(s) ? undefined : s, end: Number.isNaN(e) ? undefined : e + 86_400_000 };
}

export function inRange(time: number, range: { start: number | undefined; end: number | undefined }): boolean {
  return (range.start === undefined || time >= range.start) && (range.end === undefined || time < range.end);
}

export interface AuditRow {
  time: string;
  action: string;
  label: string;
  actor: string;
  target: string;
  details: string;
  address: string;
  userAgent: string;
}

export const AUDIT_COLUMNS: readonly (keyof AuditRow)[] = [
  "time",
  "action",
  "label",
  "actor",
  "target",
  "details",
  "address",
  "userAgent",
];

/**
 * RFC 4180 CSV, CRLF line ends. A field with a comma, quote or line break is quoted (quotes
 * doubled). A field that a spreadsheet would run as a formula (starting with =, +, -, @, tab or
 * carriage return) is prefixed with an apostrophe (OWASP's advice against CSV injection).
 */
export function toCsv<R extends object>(rows: readonly R[], columns: readonly (keyof R & string)[]): string {
  const cell = (v: unknown) => {
    let s = v === undefined || v === null ? "" : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return `${[columns.join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\r\n")}\r\n`;
}
