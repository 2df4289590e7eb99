// The AI provider ids the wallet stores keys for. The registry (checks/registry.ts) describes
// each one; stores and schemas need only the list.
export const PROVIDER_IDS = [
  "openai",
  "anthropic",
  "google",
  "mistral",
  "cohere",
  "groq",
  "together",
  "openrouter",
  "custom",
] as const;

export type ProviderId = (typeof PROVIDER_IDS)[number];
