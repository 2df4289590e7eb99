// Everything the domain operations need, built once by start.ts (or a test) and passed in (no globals).
import type { Logger } from "@cv-wallet/common/logger";
import type { Limiter, OncePer } from "./limits.ts";
import type { CryptoPort } from "./ports/crypto.ts";
import type { KeyChecker } from "./ports/key-check.ts";
import type { Store } from "./ports/store.ts";
import type { WebhookSender } from "./ports/webhook.ts";

export interface WalletDeps {
  store: Store;
  crypto: CryptoPort;
  logger: Logger;
  checker: KeyChecker;
  /**
   * Throws invalid_argument for a custom base URL the wallet must never call, judged by its
   * form only (no DNS: addresses are checked when a request is made).
   */
  assertSafeBaseUrl: (url: string) => Promise<void>;
  /** Delivers reminder messages to people's webhooks (address rules as for custom base URLs). */
  webhooks: WebhookSender;
  settings: {
    /** The public origin; unset means "the request's own Host". */
    publicUrl?: string | undefined;
    sessionTtlMs: number;
    /** Device sign-in: how long a code lives, and the polling interval handed out. */
    deviceCodeTtlMs: number;
    devicePollIntervalSeconds: number;
  };
  limits: {
    /** Key retrievals per token or session. */
    retrievals: Limiter;
    /** Sign-ups per client address. */
    signUpsPerAddress: Limiter;
    /** Consecutive failed sign-ins per account and address (reset on success). */
    signInConsecutive: Limiter;
    /** Failed sign-ins per address per day. */
    signInDaily: Limiter;
    /** Metadata reads are audited once per actor and record per window, not on every read. */
    metadataAudit: OncePer;
    /** Wrong device user codes, per session and per address. */
    deviceCodeGuessPerSession: Limiter;
    deviceCodeGuessPerAddress: Limiter;
    /** New device sign-ins per address (an unauthenticated write). */
    deviceAuthorizations: Limiter;
    /** "Send test" on the reminder webhook, per person. */
    webhookTests: Limiter;
  };
  /** The device flow's clock (tests move it instead of waiting); defaults to the system clock. */
  clock?: (() => Date) | undefined;
  /** Counts plaintext retrievals for /metrics (labels: provider, kind). */
  onRetrieval?: (provider: string, kind: "provider" | "reveal") => void;
  /** Counts webhook deliveries for /metrics (labels: event, outcome). */
  onWebhookDelivery?: (event: string, outcome: "delivered" | "failed") => void;
}
