// Who is calling: a bearer access token (cv-git) or the browser session cookie. Also the
// authorization checks every operation uses: scope, provider allow-list, session-only, and
// the CSRF origin rule for cookie-authenticated writes.
import { permissionDenied, unauthenticated } from "@cv-wallet/common/errors";
import { secretsEqual } from "@cv-wallet/common/secrets";
import type { Call, Principal, RequestInfo, Scope } from "./context.ts";
import { SCOPES } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { hashSecret, isWellFormedToken } from "./token-format.ts";

// last_used_at (tokens) and last_seen_at (sessions) are written at most this often, not on every request.
const TOUCH_INTERVAL_MS = 60_000;

/** Resolves the caller once per request; undefined when no credentials were sent. */
export function principalOf(deps: WalletDeps, call: Call): Promise<Principal | undefined> {
  call.principal ??= resolve(deps, call);
  return call.principal;
}

async function resolve(deps: WalletDeps, call: Call): Promise<Principal | undefined> {
  const now = new Date();
  const { bearer, session } = call.credentials;
  if (bearer !== undefined) {
    // Checksum first: a made-up or truncated token costs no store lookup.
    if (!isWellFormedToken(bearer)) throw unauthenticated("the access token is not valid");
    const hash = hashSecret(bearer);
    // Token and owner in one read: this runs on every token-authenticated request.
    const found = await deps.store.tokens.byHashWithUser(hash);
    const token = found?.token;
    if (!token || !secretsEqual(token.hash, hash)) throw unauthenticated("the access token is not valid");
    if (token.revokedAt) throw unauthenticated("the access token has been revoked");
    if (token.expiresAt <= now) throw unauthenticated("the access token has expired");
    const user = found.user;
    if (!user) throw unauthenticated("the access token is not valid");
    if (!token.lastUsedAt || now.getTime() - token.lastUsedAt.getTime() > TOUCH_INTERVAL_MS) {
      await deps.store.tokens.touch(token.id, now);
    }
    return { user, method: "token", token, scopes: new Set(token.scopes), providers: token.providers };
  }
  if (session !== undefined) {
    const record = await deps.store.sessions.bySecretHash(hashSecret(session), now);
    if (!record) throw unauthenticated("the session has expired; sign in again");
    const user = await deps.store.users.byId(record.userId);
    if (!user) throw unauthenticated("the session has expired; sign in again");
    if (!record.lastSeenAt || now.getTime() - record.lastSeenAt.getTime() > TOUCH_INTERVAL_MS) {
      await deps.store.sessions.touch(record.id, now);
    }
    // A cookie rides along on cross-site requests; a write must come from our own origin.
    if (call.info.unsafe) assertSameOrigin(deps, call.info, true);
    return { user, method: "session", session: record, scopes: new Set(SCOPES), providers: [] };
  }
  return undefined;
}

/**
 * The CSRF rule: the Origin header must name this service (WALLET_PUBLIC_URL, or the
 * request's own scheme and Host). With `required`, a missing Origin is refused too.
 */
export function assertSameOrigin(deps: WalletDeps, info: RequestInfo, required: boolean): void {
  if (info.origin === undefined) {
    if (required) throw permissionDenied("cross-site request refused: this request needs an Origin header");
    return;
  }
  let ok = false;
  try {
    const origin = new URL(info.origin);
    // Without a configured origin, scheme and host must both be the request's own: an http://
    // page must not write to the https:// service on the same host.
    ok = deps.settings.publicUrl
      ? origin.origin === deps.settings.publicUrl
      : origin.host === info.host && origin.protocol === (info.secure ? "https:" : "http:");
  } catch {
    ok = false;
  }
  if (!ok) throw permissionDenied("cross-site request refused: Origin does not match this service");
}

export async function requireAuth(deps: WalletDeps, call: Call): Promise<Principal> {
  const p = await principalOf(deps, call);
  if (!p) throw unauthenticated("sign in, or send an access token as Authorization: Bearer");
  return p;
}

export async function requireScope(deps: WalletDeps, call: Call, scope: Scope): Promise<Principal> {
  const p = await requireAuth(deps, call);
  if (!p.scopes.has(scope)) throw permissionDenied(`this access token lacks the ${scope} scope`);
  return p;
}

export async function requireSession(deps: WalletDeps, call: Call, what: string): Promise<Principal> {
  const p = await requireAuth(deps, call);
  if (p.method !== "session") throw permissionDenied(`${what} needs a signed-in browser session, not a token`);
  return p;
}

/** True when the caller may touch keys of this provider (token allow-list). */
export function mayUseProvider(p: Principal, provider: string): boolean {
  return p.providers.length === 0 || p.providers.includes(provider);
}

/** A stable key for per-caller limits: the token or the session, never the secret. */
export function limitKey(p: Principal): string {
  return p.method === "token" ? `token:${p.token!.id}` : `session:${p.session!.id}`;
}
