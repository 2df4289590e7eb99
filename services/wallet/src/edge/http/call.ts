// Builds the domain's Call from an HTTP request (REST or Connect, which share headers):
// credentials from the Authorization header or the session cookie, and the cookie writer.
import type { Call, ClientFacts, Credentials, RequestInfo, SessionCookie } from "../../domain/context.ts";

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
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

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

// C0, DEL, C1, and the bidirectional overrides that could disguise a name on the audit page.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function fact(value: string | null | undefined, max: number): string {
  if (!value) return "";
  let text = value;
  // Header values are ASCII; tools percent-encode anything else (UTF-8), as cvw does.
  if (/%[0-9A-Fa-f]{2}/.test(text)) {
    try {
      text = decodeURIComponent(text);
    } catch {
      // Not valid percent-encoding: kept as sent.
    }
  }
  return text.replace(UNSAFE_CHARACTERS, "").trim().slice(0, max);
}

/**
 * The calling tool's cvw-client, cvw-host and cvw-repository headers: bounded, control
 * characters removed, any credentials in the remote dropped. Shown and audited only.
 */
export function clientFactsFrom(header: (name: string) => string | null | undefined): ClientFacts | undefined {
  const client = fact(header("cvw-client"), 100);
  const host = fact(header("cvw-host"), 255);
  // host/path is what tools send; a full URL with user:password@ is cut down to that.
  const repository = fact(header("cvw-repository"), 512)
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, "")
    .replace(/^[^/@]*@/, "");
  if (!client && !host && !repository) return undefined;
  return { client, host, repository };
}
