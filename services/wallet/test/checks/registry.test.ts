import { toJson } from "@bufbuild/protobuf";
import { ProviderSchema } from "@cv-wallet/proto/wallet/v1";
import { describe, expect, it } from "vitest";
import {
  PROVIDER_IDS,
  PROVIDERS,
  prefixWarnings,
  providerById,
  providerOfKeyPrefix,
  toProviderMessage,
} from "../../src/checks/registry.ts";

describe("provider registry", () => {
  it("lists the nine providers in the documented order, each with a check", () => {
    expect(PROVIDERS.map((p) => p.id)).toEqual([...PROVIDER_IDS]);
    expect(PROVIDERS).toHaveLength(9);
    for (const p of PROVIDERS) {
      expect(p.displayName).not.toBe("");
      expect(p.docsUrl).toMatch(p.id === "custom" ? /^$/ : /^https:\/\//);
      expect(p.envVar).toMatch(/^[A-Z][A-Z0-9_]*_API_KEY$/);
      expect(p.check.path).toMatch(/^\//);
      expect(p.check.description).toContain(p.check.path);
      if (p.id === "custom") expect(p.defaultBaseUrl).toBe("");
      else expect(p.defaultBaseUrl).toMatch(/^https:\/\/[a-z0-9.-]+$/);
    }
  });

  it("knows the providers' env vars and prefixes", () => {
    expect(providerById("openai")?.envVar).toBe("OPENAI_API_KEY");
    expect(providerById("anthropic")?.envVar).toBe("ANTHROPIC_API_KEY");
    expect(providerById("anthropic")?.check.headers).toEqual({ "anthropic-version": "2023-06-01" });
    expect(providerById("google")?.keyPrefixes).toEqual(["AIza"]);
    expect(providerById("nope")).toBeUndefined();
    expect(providerOfKeyPrefix("sk-ant-api03-abc")?.id).toBe("anthropic");
    expect(providerOfKeyPrefix("sk-or-v1-abc")?.id).toBe("openrouter");
    expect(providerOfKeyPrefix("sk-proj-abc")?.id).toBe("openai");
    expect(providerOfKeyPrefix("sk-abc")?.id).toBe("openai");
    expect(providerOfKeyPrefix("gsk_abc")?.id).toBe("groq");
    expect(providerOfKeyPrefix("tgp_v1_abc")?.id).toBe("together");
    expect(providerOfKeyPrefix("0123456789abcdef")).toBeUndefined();
  });

  it("warns, without the key, when the prefix belongs to another provider (longest prefix wins)", () => {
    const cases: [string, string, string | undefined][] = [
      ["openai", "sk-ant-api03-SECRETSECRETSECRET", "Anthropic"],
      ["openai", "sk-or-v1-SECRETSECRETSECRET", "OpenRouter"],
      ["mistral", "AIzaSECRETSECRETSECRET", "Google AI"],
      ["anthropic", "sk-proj-SECRETSECRETSECRET", "OpenAI"],
      ["openrouter", "sk-SECRETSECRETSECRET", "OpenAI"],
      ["groq", "tgp_v1_SECRETSECRETSECRET", "Together AI"],
      ["anthropic", "sk-ant-api03-SECRETSECRETSECRET", undefined],
      ["openai", "sk-proj-SECRETSECRETSECRET", undefined],
      ["cohere", "SECRETSECRETSECRET", undefined],
      ["custom", "sk-ant-api03-SECRETSECRETSECRET", undefined],
      ["unknown-provider", "sk-ant-api03-SECRETSECRETSECRET", undefined],
    ];
    for (const [provider, key, names] of cases) {
      const warnings = prefixWarnings(provider, key);
      if (names === undefined) {
        expect(warnings, `${provider} ${key.slice(0, 8)}`).toEqual([]);
      } else {
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toContain(names);
        expect(warnings[0]).not.toContain("SECRET");
      }
    }
  });

  it("converts to the proto Provider message and its JSON", () => {
    for (const p of PROVIDERS) {
      const message = toProviderMessage(p);
      const json = toJson(ProviderSchema, message, { alwaysEmitImplicit: true });
      expect(json).toMatchObject({
        id: p.id,
        displayName: p.displayName,
        keyPrefixes: [...p.keyPrefixes],
        envVar: p.envVar,
        envVars: [...p.envVars],
        checkDescription: p.check.description,
      });
    }
    expect(toProviderMessage(providerById("openrouter")!).checkDescription).toContain("GET /api/v1/key");
  });
});
