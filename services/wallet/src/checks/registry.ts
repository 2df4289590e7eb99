// The provider registry: what the wallet knows about each AI provider, and how a key for it is
// checked. The checks are data (one row per provider), read by one generic checker in
// checker.ts — not nine copies of the same request code.
import { create } from "@bufbuild/protobuf";
import { type Provider, ProviderSchema } from "@cv-wallet/proto/wallet/v1";

import { PROVIDER_IDS, type ProviderId } from "../domain/provider-ids.ts";

export { PROVIDER_IDS, type ProviderId };

/** Where the key goes in the check request. Only this header ever carries it. */
export type CheckAuth =
  | { readonly kind: "bearer" } // Authorization: Bearer <key>
  | { readonly kind: "header"; readonly header: string }; // <header>: <key>

/**
 * How the answer of a successful (2xx) check is read.
 * - `listing`: any JSON object means the key is accepted (model listings).
 * - `cohere-valid`: `{ "valid": boolean }`.
 * - `openrouter-key`: `{ "data": { label, limit, limit_remaining, usage, is_free_tier } }`, kept as credits.
 */
export type CheckResponseKind = "listing" | "cohere-valid" | "openrouter-key";

/** One provider's check, as data. */
export interface ProviderCheck {
  readonly method: "GET" | "POST";
  /** Appended to the base URL (which may carry a path prefix of its own, e.g. a proxy's). */
  readonly path: string;
  readonly auth: CheckAuth;
  /** Headers sent besides the key header (never a secret). */
  readonly headers?: Readonly<Record<string, string>>;
  readonly response: CheckResponseKind;
  /**
   * Error codes in the provider's error body (error.code, error.type, error.status,
   * error.details[].reason, top-level code/type; compared lowercase) meaning the key is not valid,
   * whatever the HTTP status.
   */
  readonly invalidKeyCodes: readonly string[];
  /** Error codes meaning the account is out of money or quota (even on HTTP 429 or 400). */
  readonly quotaCodes: readonly string[];
  /** Error messages (matched, never stored or logged) meaning the same, for providers without a code. */
  readonly quotaMessages?: readonly RegExp[];
  /** What the check calls and what it costs, for people (README, GET /api/providers). */
  readonly description: string;
}

export interface ProviderInfo {
  readonly id: ProviderId;
  readonly displayName: string;
  readonly docsUrl: string;
  /** Known key prefixes, most specific first. Empty when the provider's keys carry none. */
  readonly keyPrefixes: readonly string[];
  /** The environment variable the provider's own SDKs and docs use. */
  readonly envVar: string;
  /** The API origin the check's path is appended to. Empty for custom (set per key). */
  readonly defaultBaseUrl: string;
  readonly check: ProviderCheck;
}

const BEARER: CheckAuth = { kind: "bearer" };

// Codes shared by the OpenAI-style error body `{ "error": { "code", "type", "message" } }`.
const OPENAI_STYLE_INVALID = ["invalid_api_key", "invalid_authentication", "account_deactivated"];
const OPENAI_STYLE_QUOTA = ["insufficient_quota", "billing_hard_limit_reached", "billing_not_active"];

export const PROVIDERS: readonly ProviderInfo[] = Object.freeze([
  {
    id: "openai",
    displayName: "OpenAI",
    docsUrl: "https://platform.openai.com/docs/api-reference/authentication",
    // Project, service-account and admin keys, and the older user keys ("sk-" + random).
    keyPrefixes: ["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-"],
    envVar: "OPENAI_API_KEY",
    defaultBaseUrl: "https://api.openai.com",
    check: {
      method: "GET",
      path: "/v1/models",
      auth: BEARER,
      response: "listing",
      invalidKeyCodes: OPENAI_STYLE_INVALID,
      quotaCodes: OPENAI_STYLE_QUOTA,
      description: "GET /v1/models with Authorization: Bearer — lists models, spends no tokens",
    },
  },
  {
    id: "anthropic",
    displayName: "Anthropic",
    docsUrl: "https://docs.anthropic.com/en/api/overview",
    keyPrefixes: ["sk-ant-"],
    envVar: "ANTHROPIC_API_KEY",
    defaultBaseUrl: "https://api.anthropic.com",
    check: {
      method: "GET",
      path: "/v1/models",
      auth: { kind: "header", header: "x-api-key" },
      headers: { "anthropic-version": "2023-06-01" },
      response: "listing",
      // {"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}
      invalidKeyCodes: ["authentication_error", "permission_error"],
      quotaCodes: ["billing_error"],
      quotaMessages: [/credit balance is too low/i],
      description: "GET /v1/models with x-api-key and anthropic-version: 2023-06-01 — lists models, spends no tokens",
    },
  },
  {
    id: "google",
    displayName: "Google AI (Gemini)",
    docsUrl: "https://ai.google.dev/gemini-api/docs/api-key",
    keyPrefixes: ["AIza"],
    // The Gemini API docs and the google-genai SDKs read GEMINI_API_KEY (GOOGLE_API_KEY also works there).
    envVar: "GEMINI_API_KEY",
    defaultBaseUrl: "https://generativelanguage.googleapis.com",
    check: {
      method: "GET",
      path: "/v1beta/models",
      auth: { kind: "header", header: "x-goog-api-key" },
      response: "listing",
      // A bad key is HTTP 400 INVALID_ARGUMENT with details[].reason API_KEY_INVALID.
      invalidKeyCodes: ["api_key_invalid", "api_key_expired"],
      quotaCodes: [],
      description: "GET /v1beta/models with x-goog-api-key — lists models, spends no tokens",
    },
  },
  {
    id: "mistral",
    displayName: "Mistral AI",
    docsUrl: "https://docs.mistral.ai/api/",
    keyPrefixes: [],
    envVar: "MISTRAL_API_KEY",
    defaultBaseUrl: "https://api.mistral.ai",
    check: {
      method: "GET",
      path: "/v1/models",
      auth: BEARER,
      response: "listing",
      invalidKeyCodes: [],
      quotaCodes: [],
      description: "GET /v1/models with Authorization: Bearer — lists models, spends no tokens",
    },
  },
  {
    id: "cohere",
    displayName: "Cohere",
    docsUrl: "https://docs.cohere.com/reference/check-api-key",
    keyPrefixes: [],
    // Cohere's SDKs read CO_API_KEY.
    envVar: "CO_API_KEY",
    defaultBaseUrl: "https://api.cohere.com",
    check: {
      method: "POST",
      path: "/v1/check-api-key",
      auth: BEARER,
      response: "cohere-valid",
      invalidKeyCodes: [],
      quotaCodes: [],
      description: 'POST /v1/check-api-key with Authorization: Bearer — answers { "valid": … }, spends no tokens',
    },
  },
  {
    id: "groq",
    displayName: "Groq",
    docsUrl: "https://console.groq.com/docs/api-reference",
    keyPrefixes: ["gsk_"],
    envVar: "GROQ_API_KEY",
    defaultBaseUrl: "https://api.groq.com",
    check: {
      method: "GET",
      path: "/openai/v1/models",
      auth: BEARER,
      response: "listing",
      invalidKeyCodes: [...OPENAI_STYLE_INVALID, "organization_restricted"],
      quotaCodes: OPENAI_STYLE_QUOTA,
      description: "GET /openai/v1/models with Authorization: Bearer — lists models, spends no tokens",
    },
  },
  {
    id: "together",
    displayName: "Together AI",
    docsUrl: "https://docs.together.ai/docs/api-keys-authentication",
    // Project keys as issued since 2025 (not a documented format; older keys are bare hex).
    keyPrefixes: ["tgp_v1_"],
    envVar: "TOGETHER_API_KEY",
    defaultBaseUrl: "https://api.together.xyz",
    check: {
      method: "GET",
      path: "/v1/models",
      auth: BEARER,
      response: "listing",
      invalidKeyCodes: OPENAI_STYLE_INVALID,
      quotaCodes: [...OPENAI_STYLE_QUOTA, "credit_limit"],
      description: "GET /v1/models with Authorization: Bearer — lists models, spends no tokens",
    },
  },
  {
    id: "openrouter",
    displayName: "OpenRouter",
    docsUrl: "https://openrouter.ai/docs/api-reference/api-keys/get-current-key",
    keyPrefixes: ["sk-or-"],
    envVar: "OPENROUTER_API_KEY",
    defaultBaseUrl: "https://openrouter.ai",
    check: {
      method: "GET",
      path: "/api/v1/key",
      auth: BEARER,
      response: "openrouter-key",
      invalidKeyCodes: [],
      quotaCodes: [],
      description:
        "GET /api/v1/key with Authorization: Bearer — reads the key's credit limit and usage, spends no tokens",
    },
  },
  {
    id: "custom",
    displayName: "Custom (OpenAI-compatible)",
    docsUrl: "https://platform.openai.com/docs/api-reference/models/list",
    keyPrefixes: [],
    // Custom endpoints are OpenAI-compatible, but exporting the key as OPENAI_API_KEY would clash
    // with a real OpenAI key; tools are pointed at it explicitly.
    envVar: "CUSTOM_API_KEY",
    defaultBaseUrl: "",
    check: {
      method: "GET",
      path: "/models",
      auth: BEARER,
      response: "listing",
      invalidKeyCodes: OPENAI_STYLE_INVALID,
      quotaCodes: OPENAI_STYLE_QUOTA,
      description:
        "GET <base URL>/models with Authorization: Bearer (OpenAI-compatible) — lists models, spends no tokens",
    },
  },
] satisfies ProviderInfo[]);

const BY_ID: ReadonlyMap<string, ProviderInfo> = new Map(PROVIDERS.map((p) => [p.id, p]));

export function isProviderId(id: string): id is ProviderId {
  return BY_ID.has(id);
}

/** The provider with that id, or undefined. */
export function providerById(id: string): ProviderInfo | undefined {
  return BY_ID.get(id);
}

// Every (prefix, provider) pair, longest prefix first, so "sk-ant-" wins over "sk-".
const PREFIXES: readonly { prefix: string; provider: ProviderInfo }[] = PROVIDERS.flatMap((provider) =>
  provider.keyPrefixes.map((prefix) => ({ prefix, provider })),
).sort((a, b) => b.prefix.length - a.prefix.length);

/** The provider whose known prefix is the longest one the key starts with, if any. */
export function providerOfKeyPrefix(key: string): ProviderInfo | undefined {
  return PREFIXES.find((p) => key.startsWith(p.prefix))?.provider;
}

/**
 * Warnings for a key saved under `provider` whose prefix belongs to another provider
 * (`sk-ant-…` saved as openai → names Anthropic). Never contains the key, nor its prefix
 * beyond the provider's published one. Custom endpoints accept any key format: no warning.
 */
export function prefixWarnings(provider: string | ProviderInfo, key: string): string[] {
  const saved = typeof provider === "string" ? providerById(provider) : provider;
  if (!saved || saved.id === "custom") return [];
  const owner = providerOfKeyPrefix(key);
  if (!owner || owner.id === saved.id) return [];
  const prefix = owner.keyPrefixes.find((p) => key.startsWith(p))!;
  return [
    `This key starts with "${prefix}", which is how ${owner.displayName} keys start; it was saved as ${saved.displayName}. Check the provider.`,
  ];
}

/** The registry entry as the proto `cvwallet.wallet.v1.Provider` message. */
export function toProviderMessage(provider: ProviderInfo): Provider {
  return create(ProviderSchema, {
    id: provider.id,
    displayName: provider.displayName,
    docsUrl: provider.docsUrl,
    keyPrefixes: [...provider.keyPrefixes],
    envVar: provider.envVar,
    defaultBaseUrl: provider.defaultBaseUrl,
    checkDescription: provider.check.description,
  });
}

/** The registry entry as the REST `GET /api/providers` item (camelCase, like the proto's JSON). */
export function toProviderJson(provider: ProviderInfo): {
  id: string;
  displayName: string;
  docsUrl: string;
  keyPrefixes: string[];
  envVar: string;
  defaultBaseUrl: string;
  checkDescription: string;
} {
  return {
    id: provider.id,
    displayName: provider.displayName,
    docsUrl: provider.docsUrl,
    keyPrefixes: [...provider.keyPrefixes],
    envVar: provider.envVar,
    defaultBaseUrl: provider.defaultBaseUrl,
    checkDescription: provider.check.description,
  };
}
