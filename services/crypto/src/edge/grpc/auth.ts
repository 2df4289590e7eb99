// Caller authentication for every CryptoService RPC (health and reflection stay open so
// probes and grpcurl work). A bearer service token, compared in constant time, or, when
// mTLS is configured, the client certificate that grpc-js already verified at the handshake.
import { hash, timingSafeEqual } from "node:crypto";
import { unauthenticated } from "@cv-wallet/common/errors";
import type { CallContext } from "@cv-wallet/common/grpc";
import type { Logger } from "@cv-wallet/common/logger";

export interface AuthOptions {
  serviceToken?: string | undefined;
  /** Client certificates are required and verified by the TLS layer. */
  mtls: boolean;
  logger: Logger;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function authorizer(options: AuthOptions): (call: CallContext) => void {
  const { serviceToken, mtls, logger } = options;
  // Compared as SHA-256 digests in constant time (as secretsEqual does), the configured side hashed once.
  const expected = serviceToken === undefined ? undefined : sha256(serviceToken);
  return (call) => {
    if (mtls && hasCertificate(call.peerCertificate)) return;
    const header = call.metadata.get("authorization")[0];
    const presented = typeof header === "string" ? BEARER.exec(header)?.[1] : undefined;
    if (presented !== undefined && expected !== undefined && timingSafeEqual(sha256(presented), expected)) return;
    // Audit line: who and what, never the presented value.
    const reason =
      header === undefined ? "no credentials" : presented === undefined ? "malformed authorization" : "wrong token";
    logger.warn(
      { audit: "crypto.auth.refused", method: call.method, peer: call.peer, reason },
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
