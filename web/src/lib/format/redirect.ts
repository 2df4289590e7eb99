// Where to go after signing in: back to the page that asked for it, but only ever to a path
// of this site (never "//evil.example" or "https://…"), and never back to the sign-in pages.

export function safeNext(value: string | null | undefined): string {
  if (!value || !/^\/(?![/\\])[^\s\\]*$/.test(value)) return "/";
  if (/^\/(signin|signup)(?:[/?#]|$)/.test(value)) return "/";
  return value;
}

/**
 * The sign-in or sign-up page, carrying where to go afterwards; `next` is checked here too,
 * so a link between the two pages never passes an off-site target along.
 */
export function authUrl(to: "/signin" | "/signup", next: string | null | undefined): string {
  const target = safeNext(next);
  return target === "/" ? to : `${to}?next=${encodeURIComponent(target)}`;
}

/** The sign-in URL that brings the visitor back to `path` (+ query) afterwards. */
export function signInUrl(path: string, search = ""): string {
  return authUrl("/signin", `${path}${search}`);
}

/** True when the visitor is on the way to an invitation link (/invite/<code>). */
export function isInvitation(next: string | null | undefined): boolean {
  return /^\/invite\/[^/?#]+$/.test(safeNext(next));
}
