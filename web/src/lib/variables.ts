// The environment variable each provider's tools read, and the lines built from them. The names
// are the contract's (proto's provider catalog, shared with cvw and the wallet); this module
// only adds the .env import's extra aliases and the quoting of lines.
import { envVarsForKey, isProviderId, PROVIDER_IDS, providerCatalog } from "@cv-wallet/proto/catalog";

/** The variable tools expect for each provider (custom keys derive theirs from the key name). */
export const PROVIDER_VARIABLES: Readonly<Record<string, string>> = Object.fromEntries(
  PROVIDER_IDS.filter((id) => !providerCatalog[id].envVarsFromKeyName).map((id) => [id, providerCatalog[id].envVar]),
);

/** Other names the same keys go by in existing .env files, recognised on import. */
const ALIASES: Readonly<Record<string, string>> = {
  ...Object.fromEntries(PROVIDER_IDS.flatMap((id) => providerCatalog[id].envVars.slice(1).map((v) => [v, id]))),
  GOOGLE_GENERATIVE_AI_API_KEY: "google",
  TOGETHER_AI_API_KEY: "together",
  MISTRALAI_API_KEY: "mistral",
};

/** A custom endpoint's key variable, by the catalog's rule ("Local LLM" → LOCAL_LLM_API_KEY). */
export function customVariable(keyName: string): string {
  return envVarsForKey("custom", keyName).key[0]!;
}

/** The variable for a key of `provider` named `keyName`. */
export function variableFor(provider: string, keyName: string): string {
  return isProviderId(provider) ? envVarsForKey(provider, keyName).key[0]! : customVariable(keyName);
}

/** The provider a variable name belongs to (OPENAI_API_KEY → openai), if it is a known one. */
export function providerForVariable(variable: string): string | undefined {
  const name = variable.trim().toUpperCase();
  for (const [provider, v] of Object.entries(PROVIDER_VARIABLES)) if (v === name) return provider;
  return ALIASES[name];
}

/**
 * `NAME=value` as a .env line. Values that a shell or a dotenv parser would read differently
 * (spaces, quotes, `#`, `$`, backslashes) are double-quoted with `\`, `"` and `$` escaped.
 */
export function envAssignment(variable: string, value: string): string {
  if (/^[A-Za-z0-9_\-.:/+=@,%^~]*$/.test(value)) return `${variable}=${value}`;
  return `${variable}="${value.replace(/[\\"$`]/g, (c) => `\\${c}`)}"`;
}
