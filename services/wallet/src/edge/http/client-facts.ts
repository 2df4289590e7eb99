// What a tool says about itself on every request (cvw-client, cvw-host, cvw-repository
// headers), cleaned for display and the audit log. Both edges (REST and Connect) read it.
import type { ClientFacts } from "../../domain/context.ts";

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
