// The provider registry: what the wallet knows about each AI provider, and how a key for it is
// checked. The checks are data (one row per provider), read by one generic checker in
// checker.ts — not nine copies of the same request code.
import { create } from "@bufbuild/protobuf";
import {
  isProviderId,
  PROVIDER_IDS,
  type ProviderEntry,
  type ProviderId,
  providerCatalog,
} from "@cv-wallet/proto/catalog";
import { type Provider, ProviderSchema } from "@cv-wallet/proto/wallet/v1";

export { isProviderId, PROVIDER_IDS, type ProviderId };

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

/** A provider's facts from the contract (proto's catalog) with the wallet's way of checking a key. */
export interface ProviderInfo extends ProviderEntry {
  readonly check: ProviderCheck;
}

const BEARER: CheckAuth = { kind: "bearer" };

// Codes shared by the OpenAI-style error body `{ "error": { "code", "type", "message" } }`.
const OPENAI_STYLE_INVALID = ["invalid_api_key", "invalid_authentication", "account_deactivated"];
const OPENAI_STYLE_QUOTA = ["insufficient_quota", "billing_hard_limit_reached", "billing_not_active"];

export const CHECKS: Readonly<Record<ProviderId, ProviderCheck>> = Object.freeze({
  openai: {
    method: "GET",
    path: "/v1/models",
    auth: BEARER,
    response: "listing",
    invalidKeyCodes: OPENAI_STYLE_INVALID,
    quotaCodes: OPENAI_STYLE_QUOTA,
    description: "GET /v1/models with Authorization: Bearer — lists models, spends no tokens",
  },
  anthropic: {
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
  google: {
    method: "GET",
    path: "/v1beta/models",
    auth: { kind: "header", header: "x-goog-api-key" },
    response: "listing",
    // A bad key is HTTP 400 INVALID_ARGUMENT with details[].reason API_KEY_INVALID.
    invalidKeyCodes: ["api_key_invalid", "api_key_expired"],
    quotaCodes: [],
    description: "GET /v1beta/models with x-goog-api-key — lists models, spends no tokens",
  },
  mistral: {
    method: "GET",
    path: "/v1/models",
    auth: BEARER,
    response: "listing",
    invalidKeyCodes: [],
    quotaCodes: [],
    description: "GET /v1/models with Authorization: Bearer — lists models, spends no tokens",
  },
  cohere: {
    method: "POST",
    path: "/v1/check-api-key",
    auth: BEARER,
    response: "cohere-valid",
    invalidKeyCodes: [],
    quotaCodes: [],
    description: 'POST /v1/check-api-key with Authorization: Bearer — answers { "valid": … }, spends no tokens',
  },
  groq: {
    method: "GET",
    path: "/openai/v1/models",
    auth: BEARER,
    response: "listing",
    invalidKeyCodes: [...OPENAI_STYLE_INVALID, "organization_restricted"],
    quotaCodes: OPENAI_STYLE_QUOTA,
    description: "GET /openai/v1/models with Authorization: Bearer — lists models, spends no tokens",
  },
  together: {
    method: "GET",
    path: "/v1/models",
    auth: BEARER,
    response: "listing",
    invalidKeyCodes: OPENAI_STYLE_INVALID,
    quotaCodes: [...OPENAI_STYLE_QUOTA, "credit_limit"],
    description: "GET /v1/models with Authorization: Bearer — lists models, spends no tokens",
  },
  openrouter: {
    method: "GET",
    path: "/api/v1/key",
    auth: BEARER,
    response: "openrouter-key",
    invalidKeyCodes: [],
    quotaCodes: [],
    description:
      "GET /api/v1/key with Authorization: Bearer — reads the key's credit limit and usage, spends no tokens",
  },
  custom: {
    method: "GET",
    path: "/models",
    auth: BEARER,
    response: "listing",
    invalidKeyCodes: OPENAI_STYLE_INVALID,
    quotaCodes: OPENAI_STYLE_QUOTA,
    description:
      "GET <base URL>/models with Authorization: Bearer (OpenAI-compatible) — lists models, spends no tokens",
  },
});

/** Every provider: the contract's facts (from proto) with the wallet's check. */
export const PROVIDERS: readonly ProviderInfo[] = Object.freeze(
  PROVIDER_IDS.map((id) => ({ ...providerCatalog[id], check: CHECKS[id] })),
);

const BY_ID: ReadonlyMap<string, ProviderInfo> = new Map(PROVIDERS.map((p) => [p.id, p]));

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
    envVars: [...provider.envVars],
    envVarsFromKeyName: provider.envVarsFromKeyName,
  });
}
