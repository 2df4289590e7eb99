// The library's typed errors. Every failure a caller can act on is one of these; messages
// never hold a token or a key (the wallet's own messages hold neither).
import { Code, ConnectError } from "@connectrpc/connect";

export type WalletErrorKind =
  | "not_signed_in"
  | "permission_denied"
  | "not_found"
  | "invalid_argument"
  | "unreachable"
  | "rate_limited"
  | "unavailable"
  | "failed"
  | "insecure_credentials";

export class WalletError extends Error {
  override name = "WalletError";
  readonly kind: WalletErrorKind;
  /** The Connect code the wallet answered with, when it answered. */
  readonly code: Code | undefined;
  constructor(kind: WalletErrorKind, message: string, options: { code?: Code; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.code = options.code;
  }
}

/** No token anywhere, or the wallet refused the one sent (revoked, expired, malformed). */
export class NotSignedInError extends WalletError {
  override name = "NotSignedInError";
  constructor(message: string, options: { code?: Code; cause?: unknown } = {}) {
    super("not_signed_in", message, options);
  }
}

/** The token is valid but may not do this (missing scope, provider not allowed). */
export class PermissionDeniedError extends WalletError {
  override name = "PermissionDeniedError";
  constructor(message: string, options: { code?: Code; cause?: unknown } = {}) {
    super("permission_denied", message, options);
  }
}

export class NotFoundError extends WalletError {
  override name = "NotFoundError";
  constructor(message: string, options: { code?: Code; cause?: unknown } = {}) {
    super("not_found", message, options);
  }
}

export class InvalidArgumentError extends WalletError {
  override name = "InvalidArgumentError";
  constructor(message: string, options: { code?: Code; cause?: unknown } = {}) {
    super("invalid_argument", message, options);
  }
}

/** Nothing answered at the wallet's URL (refused, unknown host, reset, timed out). */
export class UnreachableError extends WalletError {
  override name = "UnreachableError";
  readonly url: string;
  constructor(url: string, options: { cause?: unknown } = {}) {
    super("unreachable", `cannot reach the wallet at ${url}`, options);
    this.url = url;
  }
}

/** Still rate limited after the retries; retryAfterSeconds is the wallet's last Retry-After. */
export class RateLimitedError extends WalletError {
  override name = "RateLimitedError";
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, retryAfterSeconds: number | undefined, options: { cause?: unknown } = {}) {
    super("rate_limited", message, { code: Code.ResourceExhausted, ...options });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The wallet answered but cannot serve now (its crypto service or store is down). */
export class UnavailableError extends WalletError {
  override name = "UnavailableError";
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("unavailable", message, { code: Code.Unavailable, ...options });
  }
}

/** A stored credentials file that group or others can read, or that someone else owns. */
export class InsecureCredentialsError extends WalletError {
  override name = "InsecureCredentialsError";
  readonly path: string;
  constructor(path: string, message: string) {
    super("insecure_credentials", message);
    this.path = path;
  }
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
]);

/** True when the error (or one it wraps) says no connection could be made or kept. */
export function isNetworkError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 6; depth++) {
    if (typeof e !== "object") return false;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    if (e instanceof TypeError && e.message === "fetch failed") return true;
    if (e instanceof AggregateError && e.errors.some(isNetworkError)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Seconds from a Retry-After value (delta-seconds or an HTTP date); undefined if absent or bad. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d{1,9}$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** Turns what a call threw into a WalletError. */
export function toWalletError(error: unknown, url: string): WalletError {
  if (error instanceof WalletError) return error;
  if (error instanceof ConnectError && error.cause instanceof WalletError) return error.cause;
  if (isNetworkError(error)) return new UnreachableError(url, { cause: error });
  if (!(error instanceof ConnectError)) {
    return new WalletError("failed", error instanceof Error ? error.message : String(error), { cause: error });
  }
  const message = error.rawMessage || error.message;
  switch (error.code) {
    case Code.Unauthenticated:
      return new NotSignedInError(message, { code: error.code, cause: error });
    case Code.PermissionDenied:
      return new PermissionDeniedError(message, { code: error.code, cause: error });
    case Code.NotFound:
      return new NotFoundError(message, { code: error.code, cause: error });
    case Code.InvalidArgument:
      return new InvalidArgumentError(message, { code: error.code, cause: error });
    case Code.ResourceExhausted:
      return new RateLimitedError(message, parseRetryAfter(error.metadata.get("retry-after")), { cause: error });
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return new UnavailableError(`the wallet at ${url} is unavailable: ${message}`, { cause: error });
    default:
      return new WalletError("failed", message, { code: error.code, cause: error });
  }
}
