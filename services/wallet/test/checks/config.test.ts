import { ConfigError, loadConfig } from "@cv-wallet/common/config";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  baseUrlVariable,
  loadProviderConfig,
  providerConfigFrom,
  providerConfigShape,
} from "../../src/checks/config.ts";

describe("key validation config", () => {
  it("defaults: no overrides, private base URLs refused, re-check every 24 h", () => {
    expect(loadProviderConfig({})).toEqual({
      baseUrlOverrides: {},
      allowPrivateBaseUrls: false,
      validateIntervalMs: 86_400_000,
    });
  });

  it("reads WALLET_PROVIDER_<ID>_BASE_URL (loopback http allowed), the private flag and the interval", () => {
    expect(baseUrlVariable("openai")).toBe("WALLET_PROVIDER_OPENAI_BASE_URL");
    const config = loadProviderConfig({
      WALLET_PROVIDER_OPENAI_BASE_URL: "http://127.0.0.1:4010/",
      WALLET_PROVIDER_OPENROUTER_BASE_URL: "https://proxy.example/openrouter",
      WALLET_PROVIDER_GROQ_BASE_URL: "",
      WALLET_ALLOW_PRIVATE_BASE_URLS: "true",
      WALLET_VALIDATE_INTERVAL: "15m",
    });
    expect(config).toEqual({
      baseUrlOverrides: { openai: "http://127.0.0.1:4010", openrouter: "https://proxy.example/openrouter" },
      allowPrivateBaseUrls: true,
      validateIntervalMs: 900_000,
    });
    expect(loadProviderConfig({ WALLET_VALIDATE_INTERVAL: "off" }).validateIntervalMs).toBe(0);
  });

  it("a bad value is a ConfigError naming the variable, not echoing the value", () => {
    const cases: [string, string][] = [
      ["WALLET_PROVIDER_ANTHROPIC_BASE_URL", "not a url"],
      ["WALLET_PROVIDER_GOOGLE_BASE_URL", "ftp://files.example"],
      ["WALLET_PROVIDER_MISTRAL_BASE_URL", "https://user:secretpw@proxy.example"],
      ["WALLET_ALLOW_PRIVATE_BASE_URLS", "maybe"],
      ["WALLET_VALIDATE_INTERVAL", "soon"],
    ];
    for (const [variable, value] of cases) {
      let error: unknown;
      try {
        loadProviderConfig({ [variable]: value });
      } catch (e) {
        error = e;
      }
      expect(error, variable).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variables).toEqual([variable]);
      expect((error as Error).message).not.toContain(value);
    }
  });

  it("has no variable for custom (its base URL is per key), and merges into a service schema", () => {
    expect(Object.keys(providerConfigShape)).not.toContain("WALLET_PROVIDER_CUSTOM_BASE_URL");
    const schema = z.object({ WALLET_HTTP_ADDR: z.string().default("127.0.0.1:8080"), ...providerConfigShape });
    const parsed = loadConfig(schema, { WALLET_PROVIDER_COHERE_BASE_URL: "http://localhost:9" });
    expect(providerConfigFrom(parsed).baseUrlOverrides).toEqual({ cohere: "http://localhost:9" });
  });
});
