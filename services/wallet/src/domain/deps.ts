// Everything the domain operations need, built once by app.ts and passed in (no globals).
import type { Logger } from "@cv-wallet/common/logger";
import type { CryptoClient } from "../crypto-client.ts";
import type { KeyChecker } from "../providers/validate.ts";
import type { Store } from "../store/ports.ts";
import type { FailureThrottle, OncePer, RateLimiter } from "./limits.ts";

export interface WalletDeps {
  store: Store;
  crypto: CryptoClient;
  logger: Logger;
  checker: KeyChecker;
  /** Throws invalid_argument for a custom base URL the wallet must not call. */
  assertSafeBaseUrl: (url: string) => Promise<void>;
  settings: {
    /** The public origin; unset means "the request's own Host". */
    publicUrl?: string | undefined;
    sessionTtlMs: number;
  };
  limits: {
    retrievals: RateLimiter;
    signInPerAccount: FailureThrottle;
    signInPerAddress: FailureThrottle;
    /** Metadata reads are audited once per actor and record per window, not on every read. */
    metadataAudit: OncePer;
  };
  /** Counts plaintext retrievals for /metrics (labels: provider, kind). */
  onRetrieval?: (provider: string, kind: "provider" | "reveal") => void;
}
