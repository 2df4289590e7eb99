// Caller authentication for every CryptoService RPC (health and reflection stay open so
// probes and grpcurl work). A bearer service token, compared in constant time, or, when
// mTLS is configured, the client certificate that grpc-js already verified at the handshake,
// limited to the named subjects when a list is configured (a CA often signs more than the wallet).
import { hash, timingSafeEqual } from "node:crypto";
import { unauthenticated } from "@cv-wallet/common/errors";
import type { CallContext } from "@cv-wallet/common/grpc";
import type { Logger } from "@cv-wallet/common/logger";

export interface AuthOptions {
  serviceToken?: string | undefined;
  /** Client certificates are required and verified by the TLS layer. */
  mtls: boolean;
  /** Accepted certificate names (subject CN or DNS / URI / email SAN); empty = any the CA signed. */
  clientNames?: readonly string[] | undefined;
  logger: Logger;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function authorizer(options: AuthOptions): (call: CallContext) => void {
  const { serviceToken, mtls, logger } = options;
  const allowed = options.clientNames?.length ? new Set(options.clientNames) : undefined;
  // Compared as SHA-256 digests in constant time (as secretsEqual does), the configured side hashed once.
  const expected = serviceToken === undefined ? undefined : sha256(serviceToken);
  return (call) => {
    // The names of a verified certificate the allow-list refused (they are not secret; they help the operator).
    let refusedNames: string[] | undefined;
    if (mtls) {
      const certificate = call.peerCertificate;
      if (hasCertificate(certificate)) {
        if (!allowed) return;
        const names = certificateNames(certificate);
        if (names.some((n) => allowed.has(n))) return;
        refusedNames = names;
      }
    }
    const header = call.metadata.get("authorization")[0];
    const presented = typeof header === "string" ? BEARER.exec(header)?.[1] : undefined;
    if (presented !== undefined && expected !== undefined && timingSafeEqual(sha256(presented), expected)) return;
    // Audit line: who and what, never the presented value.
    const reason =
      header === undefined
        ? refusedNames
          ? "client certificate not in CRYPTO_TLS_CLIENT_NAMES"
          : "no credentials"
        : presented === undefined
          ? "malformed authorization"
          : "wrong token";
    logger.warn(
      { audit: "crypto.auth.refused", method: call.method, peer: call.peer, reason, certificateNames: refusedNames },
      "unauthenticated call refused",
    );
    throw unauthenticated("missing or invalid service credentials");
  };
}

// One-shot hash: no Hash object per call (about half the cost of createHash().update().digest()).
function sha256(text: string): Buffer {
  return hash("sha256", text, "buffer");
}

function hasCertificate(certificate: unknown): boolean {
  return typeof certificate === "object" && certificate !== null && Object.keys(certificate).length > 0;
}

/** The names a verified client certificate answers to: its subject CN and its DNS, URI and email SANs. */
function certificateNames(certificate: unknown): string[] {
  const cert = certificate as { subject?: { CN?: string | string[] }; subjectaltname?: string };
  const names: string[] = [];
  const cn = cert.subject?.CN;
  if (cn !== undefined) names.push(...(Array.isArray(cn) ? cn : [cn]));
  // Node's form: "DNS:wallet, URI:spiffe://cluster/ns/cv/sa/wallet, IP Address:10.0.0.1".
  for (const entry of (cert.subjectaltname ?? "").split(/,\s*/)) {
    const m = /^(DNS|URI|email):(.+)$/.exec(entry.trim());
    if (m) names.push(m[2]!);
  }
  return names;
}
