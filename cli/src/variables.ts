// Which environment variables carry a key: the contract's provider catalog (proto), the same
// table the wallet's provider list and the web UI's copy line read.
import { envVarsForKey, isProviderId, PROVIDER_IDS } from "@cv-wallet/proto/catalog";

export interface KeyForVariables {
  provider: string;
  /** The key record's name; names a custom endpoint's variables. */
  name: string;
  /** The secret. */
  key: string;
  /** A custom endpoint's base URL. */
  baseUrl?: string;
}

/** Provider ids the wallet knows, in the catalog's order. */
export function knownProviders(): string[] {
  return [...PROVIDER_IDS];
}

export function isKnownProvider(provider: string): boolean {
  return isProviderId(provider);
}

/** The variables a key is exported under, e.g. { OPENAI_API_KEY: "sk-…" }. */
export function variablesFor(key: KeyForVariables): Record<string, string> {
  if (!isProviderId(key.provider)) throw new Error(`no environment variables are known for provider ${key.provider}`);
  const names = envVarsForKey(key.provider, key.name);
  const vars: Record<string, string> = Object.fromEntries(names.key.map((n) => [n, key.key]));
  if (names.baseUrl && key.baseUrl) vars[names.baseUrl] = key.baseUrl;
  return vars;
}
