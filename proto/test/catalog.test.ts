// The catalog module and the rules the build writes from it: what every consumer (wallet,
// MongoDB schemas, web UI, cvw) reads instead of its own list.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  create,
  type DescField,
  type DescMessage,
  getOption,
  hasOption,
  type MessageInitShape,
  toJson,
} from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import { createValidator } from "@bufbuild/protovalidate";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  ATTENTION_STATUSES,
  envNameOfKeyName,
  envVarsForKey,
  isProviderId,
  isRecordId,
  isTokenScope,
  isValidationStatus,
  PROVIDER_IDS,
  type ProviderId,
  providerCatalog,
  RECORD_ID_PATTERN,
  TEAM_ROLES,
  TOKEN_SCOPES,
  type TokenScopeId,
  tokenScopeDescriptions,
  VALIDATION_STATUSES,
  type ValidationStatus,
} from "../src/catalog.ts";
import {
  ApiKeySchema,
  file_cvwallet_wallet_v1_team,
  file_cvwallet_wallet_v1_wallet,
  GetKeyRequestSchema,
  holds,
  ListKeysRequestSchema,
  UsageDaySchema,
} from "../src/wallet.ts";

const ID = "6650c0ffee0123456789abcd";

describe("catalog constants", () => {
  it("names the nine providers, the six statuses and the three scopes in the contract's order", () => {
    expect(PROVIDER_IDS).toEqual([
      "openai",
      "anthropic",
      "google",
      "mistral",
      "cohere",
      "groq",
      "together",
      "openrouter",
      "custom",
    ]);
    expect(VALIDATION_STATUSES).toEqual([
      "valid",
      "invalid",
      "rate_limited",
      "quota_exceeded",
      "unreachable",
      "unverified",
    ]);
    expect(ATTENTION_STATUSES).toEqual(["invalid", "quota_exceeded"]);
    expect(TOKEN_SCOPES).toEqual(["keys:read", "keys:write", "tokens:write"]);
    expect(Object.keys(tokenScopeDescriptions)).toEqual([...TOKEN_SCOPES]);
    expectTypeOf<ProviderId>().toEqualTypeOf<
      "openai" | "anthropic" | "google" | "mistral" | "cohere" | "groq" | "together" | "openrouter" | "custom"
    >();
    expectTypeOf<ValidationStatus>().toEqualTypeOf<
      "valid" | "invalid" | "rate_limited" | "quota_exceeded" | "unreachable" | "unverified"
    >();
    expectTypeOf<TokenScopeId>().toEqualTypeOf<"keys:read" | "keys:write" | "tokens:write">();
  });

  it("answers membership without prototype surprises", () => {
    expect(isProviderId("openai")).toBe(true);
    for (const bad of ["OpenAI", "", "toString", "__proto__", "custom "]) expect(isProviderId(bad), bad).toBe(false);
    expect(isValidationStatus("rate_limited")).toBe(true);
    expect(isValidationStatus("ok")).toBe(false);
    expect(isTokenScope("tokens:write")).toBe(true);
    expect(isTokenScope("keys_read")).toBe(false);
  });

  it("carries the conventional environment variables of each provider", () => {
    const table = Object.fromEntries(PROVIDER_IDS.map((id) => [id, providerCatalog[id].envVars]));
    expect(table).toEqual({
      openai: ["OPENAI_API_KEY"],
      anthropic: ["ANTHROPIC_API_KEY"],
      google: ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
      mistral: ["MISTRAL_API_KEY"],
      cohere: ["CO_API_KEY", "COHERE_API_KEY"],
      groq: ["GROQ_API_KEY"],
      together: ["TOGETHER_API_KEY"],
      openrouter: ["OPENROUTER_API_KEY"],
      custom: [],
    });
    expect(providerCatalog.google.envVar).toBe("GEMINI_API_KEY");
    expect(providerCatalog.custom.envVar).toBe("CUSTOM_API_KEY");
    expect(providerCatalog.custom.envVarsFromKeyName).toBe(true);
    expect(PROVIDER_IDS.filter((id) => providerCatalog[id].envVarsFromKeyName)).toEqual(["custom"]);
  });

  it("carries the facts the registry and the UI show", () => {
    expect(providerCatalog.openai).toMatchObject({
      id: "openai",
      displayName: "OpenAI",
      keyPrefixes: ["sk-proj-", "sk-svcacct-", "sk-admin-", "sk-"],
      defaultBaseUrl: "https://api.openai.com",
    });
    expect(providerCatalog.anthropic.keyPrefixes).toEqual(["sk-ant-"]);
    expect(providerCatalog.mistral.keyPrefixes).toEqual([]);
    expect(providerCatalog.custom.defaultBaseUrl).toBe("");
    for (const id of PROVIDER_IDS) {
      const p = providerCatalog[id];
      expect(p.displayName, id).not.toBe("");
      // Custom endpoints have no single provider site to send a person to.
      if (id === "custom") expect(p.docsUrl, id).toBe("");
      else expect(p.docsUrl, id).toMatch(/^https:\/\//);
      if (id !== "custom") expect(p.defaultBaseUrl, id).toMatch(/^https:\/\/[^/]+$/);
    }
    expect(Object.isFrozen(providerCatalog) && Object.isFrozen(providerCatalog.openai.envVars)).toBe(true);
  });

  it("derives a custom key's variables from its name, never shadowing a provider's", () => {
    expect(envVarsForKey("custom", "Local LLM")).toEqual({ key: ["LOCAL_LLM_API_KEY"], baseUrl: "LOCAL_LLM_BASE_URL" });
    expect(envVarsForKey("openai", "work")).toEqual({ key: ["OPENAI_API_KEY"] });
    expect(envVarsForKey("google", "x").key).toEqual(["GEMINI_API_KEY", "GOOGLE_API_KEY"]);
    const cases: [string, string][] = [
      ["ollama", "OLLAMA"],
      ["my-proxy.v2", "MY_PROXY_V2"],
      ["  --vLLM box--  ", "VLLM_BOX"],
      ["Café ünïcode", "CAFE_UNICODE"],
      ["", "CUSTOM"],
      ["!!!", "CUSTOM"],
      ["日本", "CUSTOM"],
      ["9router", "CUSTOM_9ROUTER"],
      ["openai", "CUSTOM_OPENAI"],
      ["Gemini", "CUSTOM_GEMINI"],
      ["co", "CUSTOM_CO"],
      ["openai proxy", "OPENAI_PROXY"],
    ];
    for (const [name, env] of cases) expect(envNameOfKeyName(name), name).toBe(env);
    for (const [name] of cases) expect(envVarsForKey("custom", name).key[0]).toMatch(/^[A-Z][A-Z0-9_]*_API_KEY$/);
  });

  it("states the record id format the wallet issues", () => {
    expect(RECORD_ID_PATTERN.source).toBe("^[0-9a-f]{24}$");
    expect(isRecordId(ID)).toBe(true);
    for (const bad of ["", ID.toUpperCase(), ID.slice(1), `${ID}0`, `${ID.slice(1)}g`, `${ID}\n`]) {
      expect(isRecordId(bad), JSON.stringify(bad)).toBe(false);
    }
  });
});

const validator = createValidator();

function violations<D extends DescMessage>(schema: D, init: MessageInitShape<D>): string[] {
  const result = validator.validate(schema, create(schema, init));
  if (result.kind === "error") throw result.error;
  return result.violations?.map((v) => `${pathToString(v.field)}:${v.ruleId}`) ?? [];
}

/** Every request field of the wallet service marked (holds), with the ids it must accept. */
function markedRequestFields(): { message: DescMessage; field: DescField; accepts: string[] }[] {
  const out: { message: DescMessage; field: DescField; accepts: string[] }[] = [];
  for (const message of [...file_cvwallet_wallet_v1_wallet.messages, ...file_cvwallet_wallet_v1_team.messages]) {
    if (!message.name.endsWith("Request")) continue;
    for (const field of message.fields) {
      if (!hasOption(field, holds)) continue;
      const h = getOption(field, holds);
      const accepts =
        h.kind.case === "recordId"
          ? [ID]
          : h.kind.value === "cvwallet.wallet.v1.ProviderKind"
            ? [...PROVIDER_IDS]
            : h.kind.value === "cvwallet.wallet.v1.TokenScope"
              ? [...TOKEN_SCOPES]
              : h.kind.value === "cvwallet.wallet.v1.TeamRole"
                ? [...TEAM_ROLES]
                : [];
      expect(accepts, `${message.name}.${field.name}`).not.toEqual([]);
      out.push({ message, field, accepts });
    }
  }
  return out;
}

describe("rules generated from the catalog", () => {
  const fields = markedRequestFields();

  it("guards every request field that holds a provider, a scope or a record id", () => {
    expect(fields.map((f) => `${f.message.name}.${f.field.name}`).sort()).toEqual(
      [
        "CreateKeyRequest.provider",
        "CreateKeyRequest.team_id",
        "CreateTokenRequest.providers",
        "CreateTokenRequest.scopes",
        "CreateTokenRequest.team_id",
        "CreateInvitationRequest.team_id",
        "CreateInvitationRequest.role",
        "DeleteTeamRequest.team_id",
        "ListInvitationsRequest.team_id",
        "ListKeysRequest.team_id",
        "ListTeamAuditEventsRequest.team_id",
        "ListTeamMembersRequest.team_id",
        "RemoveTeamMemberRequest.team_id",
        "RemoveTeamMemberRequest.user_id",
        "RevokeInvitationRequest.invitation_id",
        "RevokeInvitationRequest.team_id",
        "UpdateTeamMemberRequest.role",
        "UpdateTeamMemberRequest.team_id",
        "UpdateTeamMemberRequest.user_id",
        "DeleteKeyRequest.id",
        "GetKeyRequest.id",
        "GetKeyUsageRequest.id",
        "GetProviderKeyRequest.provider",
        "ListKeysRequest.provider",
        "RevealKeyRequest.id",
        "RevokeTokenRequest.id",
        "UpdateKeyRequest.id",
        "UpdateKeyRequest.provider",
        "ValidateKeyRequest.id",
      ].sort(),
    );
  });

  it("accepts every catalog id and rejects anything else, field by field", () => {
    for (const { message, field, accepts } of fields) {
      const where = `${message.name}.${field.name}`;
      const set = (v: string) => ({ [field.localName]: field.fieldKind === "list" ? [v] : v });
      // Violation paths name proto fields ("scopes[0]:string.in"); other fields' rules are not this test's.
      const onField = (v: string) =>
        violations(message, set(v) as MessageInitShape<DescMessage>).filter(
          (x) => /^(\w+)/.exec(x)?.[1] === field.name,
        );
      for (const ok of accepts) expect(onField(ok), `${where} = ${ok}`).toEqual([]);
      const bad =
        field.name === "id" || field.name.endsWith("_id")
          ? ["abc", ID.toUpperCase(), `${ID}0`]
          : field.name === "role"
            ? ["Owner", "superuser", "keys:read", " admin"]
            : ["OpenAI", "admin", "keys_read", " openai"];
      for (const v of bad) expect(onField(v).length, `${where} = ${v}`).toBeGreaterThan(0);
    }
  });

  it("keeps the violation ids clients already see", () => {
    expect(violations(GetKeyRequestSchema, { id: "not-an-id" })).toEqual(["id:string.pattern"]);
    expect(violations(GetKeyRequestSchema, { id: "" })).toEqual(["id:string.pattern"]);
    // The provider filter of ListKeys may be empty (no filter).
    expect(violations(ListKeysRequestSchema, { provider: "" })).toEqual([]);
    expect(violations(ListKeysRequestSchema, { provider: "nope" })).toEqual(["provider:string.in"]);
  });

  it("writes each list once, on the enum, in the .proto sources", () => {
    const dir = join(import.meta.dirname, "..", "cvwallet");
    const sources = readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith(".proto"))
      .map((e) => ({ name: e.name, text: readFileSync(join(e.parentPath, e.name), "utf8") }));
    for (const literal of ['"openrouter"', '"quota_exceeded"', '"tokens:write"', "[0-9a-f]{24}"]) {
      expect(
        sources.filter((s) => s.text.includes(literal)).map((s) => s.name),
        literal,
      ).toEqual(["catalog.proto"]);
    }
  });
});

describe("counts", () => {
  it("have a 32-bit field that is a JSON number, beside the deprecated int64 one", () => {
    const key = create(ApiKeySchema, { id: ID, usageCount: 7n, retrievals: 7 });
    const json = toJson(ApiKeySchema, key) as Record<string, unknown>;
    expect(json.retrievals).toBe(7);
    expect(json.usageCount).toBe("7");
    expect(ApiKeySchema.field.usageCount.deprecated).toBe(true);
    expect(toJson(UsageDaySchema, create(UsageDaySchema, { date: "2026-11-30", count: 3n, retrievals: 3 }))).toEqual({
      date: "2026-11-30",
      count: "3",
      retrievals: 3,
    });
    expect(UsageDaySchema.field.count.deprecated).toBe(true);
    expect(() => JSON.stringify({ retrievals: key.retrievals })).not.toThrow();
  });
});
