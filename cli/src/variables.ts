// The one place the command learns which environment variables carry a provider's key.
//
// LEAD, ON MERGE: replace PROVIDER_VARIABLES below with the provider catalog from
// @cv-wallet/proto (providerCatalog[i].envVars, and its custom-endpoint naming rule) so the
// table exists once in the project. Nothing else in cli/ reads it: only variablesFor,
// knownProviders and isKnownProvider are used elsewhere.
//
// TEMPORARY COPY — delete when the catalog lands.
const PROVIDER_VARIABLES: Readonly<Record<string, readonly string[]>> = {
  openai: ["OPENAI_API_KEY"],
  anthropic: ["ANTHROPIC_API_KEY"],
  google: ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
  mistral: ["MISTRAL_API_KEY"],
  cohere: ["CO_API_KEY", "COHERE_API_KEY"],
  groq: ["GROQ_API_KEY"],
  together: ["TOGETHER_API_KEY"],
  openrouter: ["OPENROUTER_API_KEY"],
  custom: [],
};

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
  return Object.keys(PROVIDER_VARIABLES);
}

export function isKnownProvider(provider: string): boolean {
  return Object.hasOwn(PROVIDER_VARIABLES, provider);
}

/**
 * A custom endpoint's variable stem from its key's name: "Local Llama" → LOCAL_LLAMA
 * (accents dropped, anything else not a letter or digit becomes one underscore; a leading
 * digit gets a CUSTOM_ prefix so the name stays a valid shell identifier).
 */
export function customStem(name: string): string {
  const stem = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (stem === "") return "CUSTOM";
  return /^[0-9]/.test(stem) ? `CUSTOM_${stem}` : stem;
}

/** The variables a key is exported under, e.g. { OPENAI_API_KEY: "sk-…" }. */
export function variablesFor(key: KeyForVariables): Record<string, string> {
  if (key.provider === "custom") {
    const stem = customStem(key.name);
    const vars: Record<string, string> = { [`${stem}_API_KEY`]: key.key };
    if (key.baseUrl) vars[`${stem}_BASE_URL`] = key.baseUrl;
    return vars;
  }
  const names = PROVIDER_VARIABLES[key.provider];
  if (!names) throw new Error(`no environment variables are known for provider ${key.provider}`);
  return Object.fromEntries(names.map((n) => [n, key.key]));
}
