// Security headers on every response. The API never renders HTML, so it gets the strictest
// policy; the web UI gets a same-origin policy (SvelteKit's static build boots with an
// inline script, hence 'unsafe-inline' for scripts there and only there).
//
// helmet sets the standard ones. Kept here: the Content-Security-Policy (one of two fixed
// strings chosen by path; helmet would rebuild it from directives, per request, and join them
// without the space clients and tests have always seen), Permissions-Policy (helmet has
// none) and Cache-Control. helmet's other defaults (Origin-Agent-Cluster, X-XSS-Protection,
// X-DNS-Prefetch-Control, …) are off: the header set stays what the README documents.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestHandler } from "express";
import helmet from "helmet";

const API_CSP = "default-src 'none'; frame-ancestors 'none'";
const UI_CSP =
  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

const base = {
  contentSecurityPolicy: false,
  crossOriginEmbedderPolicy: false,
  crossOriginOpenerPolicy: { policy: "same-origin" },
  crossOriginResourcePolicy: { policy: "same-origin" },
  originAgentCluster: false,
  referrerPolicy: { policy: "no-referrer" },
  xContentTypeOptions: true,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: { action: "deny" },
  xPermittedCrossDomainPolicies: false,
  // Express's own header is disabled in app.ts; the Connect adapter never sets one.
  xPoweredBy: false,
  xXssProtection: false,
} as const;
const withoutHsts = helmet({ ...base, strictTransportSecurity: false });
const withHsts = helmet({ ...base, strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true } });
const done = () => {};

/** Sets the headers for a response to `path`; used by Express and ahead of the Connect adapter. */
export function setSecurityHeaders(req: IncomingMessage, res: ServerResponse, path: string, hsts: boolean): void {
  // helmet's middleware only sets headers and calls next synchronously.
  (hsts ? withHsts : withoutHsts)(req, res, done);
  res.setHeader("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
  const api = path.startsWith("/api/") || path.startsWith("/cvwallet.");
  res.setHeader("Content-Security-Policy", api ? API_CSP : UI_CSP);
  // Responses can carry plaintext keys and tokens: nothing from the API is cached anywhere.
  if (api) res.setHeader("Cache-Control", "no-store");
}

export function securityHeaders(options: { hsts: boolean }): RequestHandler {
  return (req, res, next) => {
    setSecurityHeaders(req, res, req.path, options.hsts);
    next();
  };
}
