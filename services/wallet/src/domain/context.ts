// What every operation receives besides its request: who is calling (resolved lazily, so
// public operations never touch the store for it), where from, and how to set or clear the
// browser session cookie. Both edges (REST and Connect) build one of these per request.
import type { SessionRecord, TokenRecord, UserRecord } from "./ports/store.ts";

export { TOKEN_SCOPES as SCOPES, type TokenScopeId as Scope } from "@cv-wallet/proto/catalog";

export interface Principal {
  user: UserRecord;
  method: "session" | "token";
  session?: SessionRecord | undefined;
  token?: TokenRecord | undefined;
  scopes: ReadonlySet<string>;
  /** Providers the caller may touch; empty means all. */
  providers: readonly string[];
}

/**
 * What a tool says about itself (cvw-client, cvw-host, cvw-repository headers): shown and
 * audited, never trusted for authorization. Bounded and free of control characters; "" when
 * not sent.
 */
export interface ClientFacts {
  /** name/version, e.g. "cv-git/2.3.0". */
  client: string;
  host: string;
  /** The git remote as host/path, e.g. "github.com/acme/app". */
  repository: string;
}

export interface RequestInfo {
  /** The client's address (from the socket, or X-Forwarded-For when WALLET_TRUST_PROXY is on). */
  address: string;
  userAgent: string;
  /** The Origin header, when sent. */
  origin?: string | undefined;
  /** The Host header. */
  host?: string | undefined;
  /** True when the client reached us over HTTPS (TLS here, or X-Forwarded-Proto behind a trusted proxy). */
  secure?: boolean | undefined;
  /** True for methods that can change state (everything but GET/HEAD/OPTIONS). */
  unsafe: boolean;
  /** The calling tool, when it named itself. */
  client?: ClientFacts | undefined;
}

export interface Credentials {
  /** The Authorization header's bearer token. */
  bearer?: string | undefined;
  /** The session cookie's value. */
  session?: string | undefined;
}

export interface SessionCookie {
  set(secret: string, expiresAt: Date): void;
  clear(): void;
}

export interface Call {
  info: RequestInfo;
  credentials: Credentials;
  cookie: SessionCookie;
  /** Filled by authenticate() on first use. */
  principal?: Promise<Principal | undefined>;
}
