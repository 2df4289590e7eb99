// Page cursors: the sort key of the last item, base64url-encoded so callers treat it as
// opaque. A cursor that does not decode is the caller's mistake (invalid_argument).
import { invalidArgument } from "@cv-wallet/common/errors";

export interface Cursor {
  time: number;
  id: string;
}

export function encodeCursor(time: Date, id: string): string {
  return Buffer.from(`${time.getTime()}.${id}`).toString("base64url");
}

export function decodeCursor(text: string | undefined): Cursor | undefined {
  if (!text) return undefined;
  const m = /^(\d{1,15})\.([0-9a-f]{24})$/.exec(Buffer.from(text, "base64url").toString("utf8"));
  if (!m) throw invalidArgument("page_token is not a token this service issued");
  return { time: Number(m[1]), id: m[2]! };
}

/** YYYY-MM-DD of an instant, in UTC. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}
