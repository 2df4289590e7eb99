// The domain's view of a provider key check: what a checker answers, not how it asks. The
// HTTP checker in checks/ implements it; the domain and the stores use only these types.
// The statuses are the contract's (proto's catalog), listed once there.
export { ATTENTION_STATUSES, VALIDATION_STATUSES, type ValidationStatus } from "@cv-wallet/proto/catalog";

import type { ValidationStatus } from "@cv-wallet/proto/catalog";

export interface ProviderCredits {
  label: string;
  /** Unset when the key has no credit limit. */
  limit?: number;
  limitRemaining?: number;
  usage: number;
  isFreeTier: boolean;
}

export interface CheckResult {
  status: ValidationStatus;
  /** Short and key-free, e.g. "HTTP 401 from api.openai.com" or "credits left: 4.90". */
  detail: string;
  checkedAt: Date;
  credits?: ProviderCredits;
  retryAfterSeconds?: number;
}

export interface KeyChecker {
  /** Never throws: every failure is a CheckResult. `baseUrl` is used for the custom provider only. */
  check(provider: string, key: string, baseUrl?: string): Promise<CheckResult>;
}
