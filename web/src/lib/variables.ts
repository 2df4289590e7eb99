// The environment variable each provider's tools read, and the lines built from them. The one
// place the UI knows these names: the key page's copy line, the .env import and the template
// export all come from here.
// TODO(lead): point PROVIDER_VARIABLES at the provider catalog generated from proto when it lands.

/** The variable tools expect for each provider (custom keys derive theirs from the key name). */
export const PROVIDER_VARIABLES: Readonly<Record<string, string>> = {
  openai: "OPENAI_API_KEY",
  anthropic: "ANTHROPIC_API_KEY",
  google: "GEMINI_API_KEY",
  mistral: "MISTRAL_API_KEY",
  cohere: "CO_API_KEY",
  groq: "GROQ_API_KEY",
  together: "TOGETHER_API_KEY",
  openrouter: "OPENROUTER_API_KEY",
};

/** Other names the same keys go by in existing .env files, recognised on import. */
const ALIASES: Readonly<Record<string, string>> = {
  GOOGLE_API_KEY: "google",
  GOOGLE_GENERATIVE_AI_API_KEY: "google",
  COHERE_API_KEY: "cohere",
  TOGETHER_AI_API_KEY: "together",
  MISTRALAI_API_KEY: "mistral",
};

/**
 * A custom endpoint's variable: the key name uppercased, every run of characters other than
 * A–Z and 0–9 turned into one `_`, then `_API_KEY` ("local llama" → LOCAL_LLAMA_API_KEY). A name
 * that starts with a digit gets a leading `_` (shells refuse a variable that starts with one).
 */
export function customVariable(keyName: string): string {
  const stem = keyName
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (!stem) return "CUSTOM_API_KEY";
  const base = /^\d/.test(stem) ? `_${stem}` : stem;
  return /(^|_)API_KEY$/.test(base) ? base : `${base}_API_KEY`;
}

/** The variable for a key of `provider` named `keyName`. */
export function variableFor(provider: string, keyName: string): string {
  return PROVIDER_VARIABLES[provider] ?? customVariable(keyName);
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
