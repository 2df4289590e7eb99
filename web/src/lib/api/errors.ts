// ConnectError → a sentence a person can act on. Pages pass overrides for the codes whose
// meaning depends on what was asked (Unauthenticated at sign-in means a wrong password).
import { Code, ConnectError } from "@connectrpc/connect";

export type ErrorOverrides = Partial<Record<Code, string>>;

/** Field names from the contract, as the forms label them. */
const FIELD_LABELS: Record<string, string> = {
  email: "Email",
  password: "Password",
  name: "Name",
  key: "API key",
  base_url: "Base URL",
  expires_at: "Expires on",
  provider: "Provider",
  scopes: "Scopes",
  providers: "Providers",
  expires_in_days: "Expires in",
  url: "URL",
};

/**
 * Turns a protovalidate message ("validation error:\n - password: value length must be at
 * least 12 characters [string.min_len]") into "Password: value length must be at least 12
 * characters." Other messages pass through with a capital and a full stop.
 */
export function humanizeInvalid(raw: string): string {
  const lines = raw
    .replace(/^validation error:?\s*/i, "")
    .split(/\n/)
    .map((line) => line.replace(/^\s*-\s*/, "").trim())
    .filter(Boolean)
    .map((line) => {
      const cleaned = line.replace(/\s*\[[\w.]+\]\s*$/, "").trim();
      const m = /^([a-z_]+(?:\[\d+\])?):\s*(.*)$/.exec(cleaned);
      if (!m) return sentence(cleaned);
      const field = (m[1] ?? "").replace(/\[\d+\]$/, "");
      return sentence(`${FIELD_LABELS[field] ?? field}: ${m[2] ?? ""}`);
    });
  return lines.join(" ") || "Some of the values are not valid.";
}

function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const capital = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

const UNREACHABLE = "The wallet cannot be reached right now. Check your connection and try again.";

/** The human message for any error thrown by a wallet call. */
export function errorMessage(err: unknown, overrides: ErrorOverrides = {}): string {
  const e = ConnectError.from(err);
  const override = overrides[e.code];
  if (override) return override;
  // fetch() itself failed (offline, wallet down): connect-web reports it as Unknown.
  if (e.code === Code.Unknown && e.cause instanceof TypeError) return UNREACHABLE;
  switch (e.code) {
    case Code.InvalidArgument:
    case Code.FailedPrecondition:
    case Code.OutOfRange:
      return e.rawMessage ? humanizeInvalid(e.rawMessage) : "Some of the values are not valid.";
    case Code.Unauthenticated:
      return "Your session has ended. Sign in again.";
    case Code.PermissionDenied:
      return "You are not allowed to do that.";
    case Code.NotFound:
      return "It no longer exists; it may have been deleted.";
    case Code.AlreadyExists:
      return e.rawMessage ? sentence(e.rawMessage) : "That already exists.";
    case Code.ResourceExhausted:
      return "Too many requests. Wait a moment and try again.";
    case Code.Unavailable:
      return UNREACHABLE;
    case Code.DeadlineExceeded:
      return "The wallet took too long to answer. Try again.";
    case Code.Canceled:
      return "The request was cancelled.";
    default:
      return "Something went wrong in the wallet. Try again in a moment.";
  }
}

export function isUnauthenticated(err: unknown): boolean {
  return ConnectError.from(err).code === Code.Unauthenticated;
}

/**
 * The form field an invalid-argument error is about ("key", "name", "base_url", …), read from
 * the wallet's message ("base_url: …" or a protovalidate violation), so the form can mark it.
 */
export function errorField(err: unknown): string | undefined {
  const e = ConnectError.from(err);
  if (e.code !== Code.InvalidArgument && e.code !== Code.AlreadyExists) return undefined;
  if (e.code === Code.AlreadyExists) return "name";
  const first = e.rawMessage
    .replace(/^validation error:?\s*/i, "")
    .split(/\n/)
    .map((l) => l.replace(/^\s*-\s*/, "").trim())
    .find(Boolean);
  if (!first) return undefined;
  // "base URL refused: …" names its field in words.
  if (/^base[ _]url\b/i.test(first)) return "base_url";
  return /^([a-z_]+)(?:\[\d+\])?:/.exec(first)?.[1];
}
