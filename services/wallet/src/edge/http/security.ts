// Security headers on every response. The API never renders HTML, so it gets the strictest
// policy; the web UI gets a same-origin policy (SvelteKit's static build boots with an
// inline script, hence 'unsafe-inline' for scripts there and only there).
import type { ServerResponse } from "node:http";
import type { RequestHandler } from "express";

const API_CSP = "default-src 'none'; frame-ancestors 'none'";
const UI_CSP =
  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/** Sets the headers for a response to `path`; used by Express and ahead of the Connect adapter. */
export function setSecurityHeaders(res: ServerResponse, path: string, hsts: boolean): void {
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
  res.setHeader("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
  if (hsts) res.setHeader("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
  const api = path.startsWith("/api/") || path.startsWith("/cvwallet.");
  res.setHeader("Content-Security-Policy", api ? API_CSP : UI_CSP);
  // Responses can carry plaintext keys and tokens: nothing from the API is cached anywhere.
  if (api) res.setHeader("Cache-Control", "no-store");
}

export function securityHeaders(options: { hsts: boolean }): RequestHandler {
  return (req, res, next) => {
    setSecurityHeaders(res, req.path, options.hsts);
    next();
  };
}
