// How a failed outbound request (a key check, a webhook delivery) is described to people:
// fixed words and the host, never the error's own message (it can quote a URL, and with it a
// secret path or a key).

const NETWORK_TEXT: Record<string, string> = {
  ECONNREFUSED: "connection refused by",
  ECONNRESET: "connection reset by",
  ENOTFOUND: "host not found:",
  EAI_AGAIN: "DNS lookup failed for",
  EHOSTUNREACH: "no route to",
  ENETUNREACH: "network unreachable for",
  ETIMEDOUT: "connection timed out to",
  EPIPE: "connection closed by",
  CERT_HAS_EXPIRED: "expired TLS certificate from",
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed TLS certificate from",
  SELF_SIGNED_CERT_IN_CHAIN: "untrusted TLS certificate from",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "unverifiable TLS certificate from",
  ERR_TLS_CERT_ALTNAME_INVALID: "TLS certificate for another name from",
  HPE_INVALID_CONSTANT: "malformed HTTP answer from",
};

/** "no answer from api.example within 5 s". */
export function describeTimeout(timeoutMs: number, host: string | undefined): string {
  const seconds = timeoutMs >= 1000 ? `${(timeoutMs / 1000).toFixed(timeoutMs % 1000 ? 1 : 0)} s` : `${timeoutMs} ms`;
  return `no answer${host ? ` from ${host}` : ""} within ${seconds}`;
}

/** "connection refused by api.example", from a socket, TLS or HTTP parser error's code. */
export function describeNetworkError(error: unknown, host: string): string {
  const code = typeof (error as { code?: unknown })?.code === "string" ? (error as { code: string }).code : "";
  const text = NETWORK_TEXT[code];
  return text ? `${text} ${host}` : `network error talking to ${host}`;
}
