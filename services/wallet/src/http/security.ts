// Security headers on every response. The API never renders HTML, so it gets the strictest
// policy; the web UI gets a same-origin policy (SvelteKit's static build boots with an
// inline script, hence 'unsafe-inline' for scripts there and only there).
import type { RequestHandler } from "express";

const API_CSP = "default-src 'none'; frame-ancestors 'none'";
const UI_CSP =
  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

export function securityHeaders(options: { hsts: boolean }): RequestHandler {
  return (req, res, next) => {
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("X-Frame-Options", "DENY");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
    res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
    res.setHeader("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
    if (options.hsts) res.setHeader("Strict-Transport-Security", "max-age=31536000; includeSubDomains");
    const api = req.path.startsWith("/api/") || req.path.startsWith("/cvwallet.");
    res.setHeader("Content-Security-Policy", api ? API_CSP : UI_CSP);
    // Responses can carry plaintext keys and tokens: nothing under /api is cached anywhere.
    if (api) res.setHeader("Cache-Control", "no-store");
    next();
  };
}
