// Key validation in one import for the wallet's composition root and domain code.
export {
  baseUrlVariable,
  loadProviderConfig,
  type ProviderConfig,
  providerConfigFrom,
  providerConfigShape,
} from "./config.ts";
export {
  isProviderId,
  PROVIDER_IDS,
  PROVIDERS,
  type ProviderCheck,
  type ProviderId,
  type ProviderInfo,
  prefixWarnings,
  providerById,
  providerOfKeyPrefix,
  toProviderJson,
  toProviderMessage,
} from "./registry.ts";
export {
  type DueKey,
  type RunSummary,
  startValidationScheduler,
  type ValidationScheduler,
  type ValidationSchedulerOptions,
} from "./scheduler.ts";
export {
  assertSafeBaseUrl,
  classifyAddress,
  type HostResolver,
  parseSafeBaseUrl,
  resolveSafeBaseUrl,
} from "./url-safety.ts";
export {
  type CheckResult,
  createKeyChecker,
  type KeyChecker,
  type KeyCheckerOptions,
  type ProviderCredits,
  VALIDATION_STATUSES,
  type ValidationStatus,
} from "./validate.ts";
