// The wallet's vocabularies as typed constants, read from the contract (catalog.proto) when
// this module loads: provider ids and facts, validation statuses, token scopes and the record
// id format. Nothing here is a second copy: the values come from the enum options in the
// generated descriptors, and the literal types from the generated enums' names. Safe in the
// browser (no Node imports).
import { type DescEnum, getOption, hasOption } from "@bufbuild/protobuf";
import {
  file_cvwallet_wallet_v1_catalog,
  type KeyValidationStatus,
  KeyValidationStatusSchema,
  type ProviderKind,
  ProviderKindSchema,
  provider_facts,
  record_id_pattern,
  string_id,
  type TeamRole,
  TeamRoleSchema,
  type TokenScope,
  TokenScopeSchema,
  token_scope_facts,
  validation_status_facts,
} from "../gen/cvwallet/wallet/v1/catalog_pb.js";

type Named<E> = Exclude<keyof E, "UNSPECIFIED"> & string;
type ScopeId<K extends string> = K extends `${infer A}_${infer B}` ? `${Lowercase<A>}:${Lowercase<B>}` : never;

/** "openai" | "anthropic" | … | "custom". */
export type ProviderId = Lowercase<Named<typeof ProviderKind>>;
/** "valid" | "invalid" | "rate_limited" | "quota_exceeded" | "unreachable" | "unverified". */
export type ValidationStatus = Lowercase<Named<typeof KeyValidationStatus>>;
/** "keys:read" | "keys:write" | "tokens:write". */
export type TokenScopeId = ScopeId<Named<typeof TokenScope>>;

/** The string ids of an enum's values (all but the zero value), checked against their names. */
function idsOf<T extends string>(e: DescEnum, scopes = false): { value: DescEnum["values"][number]; id: T }[] {
  return e.values
    .filter((v) => v.number !== 0)
    .map((value) => {
      const id = getOption(value, string_id);
      let implied = value.localName.toLowerCase();
      if (scopes) implied = implied.replace("_", ":");
      // The build refuses this too (scripts/catalog-rules.ts); the types above rely on it.
      if (id !== implied)
        throw new Error(`catalog: ${value.name} has string id "${id}", its name implies "${implied}"`);
      return { value, id: id as T };
    });
}

export interface ProviderEntry {
  readonly id: ProviderId;
  readonly displayName: string;
  readonly docsUrl: string;
  /** Known key prefixes, most specific first; empty when the provider's keys carry none. */
  readonly keyPrefixes: readonly string[];
  /** The API origin; empty for custom (set per key). */
  readonly defaultBaseUrl: string;
  /** Conventional environment variables for the key, the provider SDKs' own first; empty for custom. */
  readonly envVars: readonly string[];
  /** The variable to show for the provider: envVars[0], or for custom the one an unnamed key gets (CUSTOM_API_KEY). */
  readonly envVar: string;
  /** Custom: each key's variables come from its name (envVarsForKey). */
  readonly envVarsFromKeyName: boolean;
}

const providerValues = idsOf<ProviderId>(ProviderKindSchema);
const statusValues = idsOf<ValidationStatus>(KeyValidationStatusSchema);
const scopeValues = idsOf<TokenScopeId>(TokenScopeSchema, true);

/** The provider ids in the contract's order. */
export const PROVIDER_IDS: readonly ProviderId[] = Object.freeze(providerValues.map((p) => p.id));

/** Every variable name a built-in provider claims; custom names never take one of these. */
const PROVIDER_ENV_VARS = new Set(
  providerValues.flatMap(({ value }) =>
    hasOption(value, provider_facts) ? getOption(value, provider_facts).envVars : [],
  ),
);

/**
 * The NAME part of a custom key's variables, by the rule in catalog.proto
 * (ProviderFacts.env_vars_from_key_name): "Local LLM" → "LOCAL_LLM", "" → "CUSTOM",
 * "9router" → "CUSTOM_9ROUTER", "openai" → "CUSTOM_OPENAI".
 */
export function envNameOfKeyName(keyName: string): string {
  let name = keyName
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .toUpperCase()
    .replace(/[^A-Z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  if (name === "") return "CUSTOM";
  if (/^[0-9]/.test(name) || PROVIDER_ENV_VARS.has(`${name}_API_KEY`)) name = `CUSTOM_${name}`;
  return name;
}

/** The provider catalog, by id, frozen. */
export const providerCatalog: Readonly<Record<ProviderId, ProviderEntry>> = Object.freeze(
  Object.fromEntries(
    providerValues.map(({ value, id }) => {
      if (!hasOption(value, provider_facts)) throw new Error(`catalog: ${value.name} has no provider facts`);
      const f = getOption(value, provider_facts);
      const envVars = Object.freeze([...f.envVars]);
      const facts: ProviderEntry = Object.freeze({
        id,
        displayName: f.displayName,
        docsUrl: f.docsUrl,
        keyPrefixes: Object.freeze([...f.keyPrefixes]),
        defaultBaseUrl: f.defaultBaseUrl,
        envVars,
        envVar: envVars[0] ?? `${envNameOfKeyName("")}_API_KEY`,
        envVarsFromKeyName: f.envVarsFromKeyName,
      });
      return [id, facts];
    }),
  ) as Record<ProviderId, ProviderEntry>,
);

export function isProviderId(id: string): id is ProviderId {
  return Object.hasOwn(providerCatalog, id);
}

/** The environment a key is exported under: every conventional name for it, and the base URL's (custom). */
export interface KeyEnvVars {
  readonly key: readonly string[];
  /** Custom only: the variable for the key's base URL. */
  readonly baseUrl?: string;
}

/** The variables a key of `provider` named `keyName` goes in (cvw run, cvw env, the UI's key page). */
export function envVarsForKey(provider: ProviderId, keyName: string): KeyEnvVars {
  const facts = providerCatalog[provider];
  if (!facts.envVarsFromKeyName) return { key: facts.envVars };
  const name = envNameOfKeyName(keyName);
  return { key: [`${name}_API_KEY`], baseUrl: `${name}_BASE_URL` };
}

/** Validation statuses in the contract's order. */
export const VALIDATION_STATUSES: readonly ValidationStatus[] = Object.freeze(statusValues.map((s) => s.id));

/** The statuses ListKeysRequest.needs_attention selects (besides expiry): invalid, quota_exceeded. */
export const ATTENTION_STATUSES: readonly ValidationStatus[] = Object.freeze(
  statusValues
    .filter(
      ({ value }) =>
        hasOption(value, validation_status_facts) && getOption(value, validation_status_facts).needsAttention,
    )
    .map((s) => s.id),
);

export function isValidationStatus(status: string): status is ValidationStatus {
  return (VALIDATION_STATUSES as readonly string[]).includes(status);
}

/** Token scopes in the contract's order. */
export const TOKEN_SCOPES: readonly TokenScopeId[] = Object.freeze(scopeValues.map((s) => s.id));

/** What each scope allows, for people choosing scopes. */
export const tokenScopeDescriptions: Readonly<Record<TokenScopeId, string>> = Object.freeze(
  Object.fromEntries(
    scopeValues.map(({ value, id }) => [id, getOption(value, token_scope_facts).description]),
  ) as Record<TokenScopeId, string>,
);

export function isTokenScope(scope: string): scope is TokenScopeId {
  return (TOKEN_SCOPES as readonly string[]).includes(scope);
}

/** The record id format, as the contract's protovalidate rule states it: 24 lowercase hex characters. */
export const RECORD_ID_PATTERN_SOURCE: string = getOption(file_cvwallet_wallet_v1_catalog, record_id_pattern);
export const RECORD_ID_PATTERN: RegExp = new RegExp(RECORD_ID_PATTERN_SOURCE);

export function isRecordId(id: string): boolean {
  return RECORD_ID_PATTERN.test(id);
}

/** "owner" | "admin" | "member" | "viewer". */
export type TeamRoleId = Lowercase<Named<typeof TeamRole>>;

/** Team roles from most to least powerful (the contract's order). */
export const TEAM_ROLES: readonly TeamRoleId[] = Object.freeze(idsOf<TeamRoleId>(TeamRoleSchema).map((r) => r.id));

export function isTeamRole(role: string): role is TeamRoleId {
  return (TEAM_ROLES as readonly string[]).includes(role);
}
