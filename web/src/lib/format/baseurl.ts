// Custom endpoint base URLs as the form sees them before the wallet does.

/** The operator setting that lets custom base URLs reach this machine or a private network. */
export const PRIVATE_URL_SETTING = "WALLET_ALLOW_PRIVATE_BASE_URLS";

/**
 * True for a URL the wallet refuses unless its operator allows private base URLs: plain http,
 * localhost, loopback, and the private IPv4 ranges (Ollama on http://localhost:11434/v1, LM
 * Studio on http://localhost:1234/v1, a box on the office network).
 */
export function needsPrivateSetting(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return false;
  }
  if (url.protocol === "http:") return true;
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost") || host === "::1") return true;
  const m = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(host);
  if (!m) return /^f[cd][0-9a-f]{2}:/.test(host);
  const a = Number(m[1]);
  const b = Number(m[2]);
  return (
    a === 127 ||
    a === 10 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b <= 127)
  );
}

/** The sentence that says why such a URL is refused and who can change it. */
export function privateSettingSentence(): string {
  return `Addresses on this machine or a private network (such as http://localhost:1234/v1 for LM Studio or http://localhost:11434/v1 for Ollama) are accepted only when the wallet's operator sets ${PRIVATE_URL_SETTING}=true.`;
}

/** "llm.example.com/v1": the part of a base URL that tells two endpoints apart. */
export function shortBaseUrl(text: string): string {
  try {
    const url = new URL(text);
    const path = url.pathname.replace(/\/+$/, "");
    return `${url.protocol === "http:" ? "http://" : ""}${url.host}${path}`;
  } catch {
    return text;
  }
}
