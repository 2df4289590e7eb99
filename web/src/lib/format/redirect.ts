// Where to go after signing in: back to the page that asked for it, but only ever to a path
// of this site (never "//evil.example" or "https://…"), and never back to the sign-in pages.

export function safeNext(value: string | null | undefined): string {
  if (!value || !/^\/(?![/\\])[^\s\\]*$/.test(value)) return "/";
  if (/^\/(signin|signup)(?:[/?#]|$)/.test(value)) return "/";
  return value;
}

/** The sign-in URL that brings the visitor back to `path` (+ query) afterwards. */
export function signInUrl(path: string, search = ""): string {
  const next = safeNext(`${path}${search}`);
  return next === "/" ? "/signin" : `/signin?next=${encodeURIComponent(next)}`;
}
