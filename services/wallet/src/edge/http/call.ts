// Builds the domain's Call from an HTTP request (REST or Connect, which share headers):
// credentials from the Authorization header or the session cookie, and the cookie writer.
import { parseCookie } from "cookie";
import type { Call, Credentials, RequestInfo, SessionCookie } from "../../domain/context.ts";

export const SESSION_COOKIE = "cvw_session";

export function credentialsFrom(
  authorization: string | null | undefined,
  cookie: string | null | undefined,
): Credentials {
  if (authorization) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    // Any other Authorization scheme is a wrong credential, not an absent one.
    return { bearer: m ? m[1] : "" };
  }
  return { session: cookieValue(cookie, SESSION_COOKIE) };
}

export function cookieValue(header: string | null | undefined, name: string): string | undefined {
  if (!header) return undefined;
  return parseCookie(header)[name] || undefined;
}

// The Set-Cookie line is written here (one cookie, fixed attributes, a value that is already
// URL-safe) so its form stays the documented `name=value; Path=/; HttpOnly; SameSite=Lax; …`.
export function sessionCookie(secure: boolean, append: (value: string) => void): SessionCookie {
  const attributes = `Path=/; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
  return {
    set: (secret, expiresAt) =>
      append(
        `${SESSION_COOKIE}=${secret}; ${attributes}; Max-Age=${Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000))}`,
      ),
    clear: () => append(`${SESSION_COOKIE}=; ${attributes}; Max-Age=0`),
  };
}

export function makeCall(info: RequestInfo, credentials: Credentials, cookie: SessionCookie): Call {
  return { info, credentials, cookie };
}
