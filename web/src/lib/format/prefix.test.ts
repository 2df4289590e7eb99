import { describe, expect, it } from "vitest";
import { prefixHint, prefixWarning, providerForKey } from "./prefix.ts";

const providers = [
  { id: "openai", displayName: "OpenAI", keyPrefixes: ["sk-"] },
  { id: "anthropic", displayName: "Anthropic", keyPrefixes: ["sk-ant-"] },
  { id: "google", displayName: "Google AI", keyPrefixes: ["AIza"] },
  { id: "mistral", displayName: "Mistral", keyPrefixes: [] },
  { id: "groq", displayName: "Groq", keyPrefixes: ["gsk_"] },
  { id: "openrouter", displayName: "OpenRouter", keyPrefixes: ["sk-or-v1-", "sk-or-"] },
  { id: "custom", displayName: "Custom", keyPrefixes: [] },
];

describe("prefixHint", () => {
  it("names the expected prefixes", () => {
    expect(prefixHint(providers[1])).toBe("Anthropic keys start with “sk-ant-”.");
    expect(prefixHint(providers[5])).toBe("OpenRouter keys start with “sk-or-v1-” or “sk-or-”.");
  });
  it("has nothing to say for providers without a fixed prefix", () => {
    expect(prefixHint(providers[3])).toBeUndefined();
    expect(prefixHint(undefined)).toBeUndefined();
  });
});

describe("providerForKey", () => {
  it("picks the longest matching prefix", () => {
    expect(providerForKey("sk-ant-api03-xyz", providers)?.id).toBe("anthropic");
    expect(providerForKey("sk-or-v1-abc", providers)?.id).toBe("openrouter");
    expect(providerForKey("sk-proj-abc", providers)?.id).toBe("openai");
    expect(providerForKey("  AIzaSyAbc", providers)?.id).toBe("google");
  });
  it("finds none for an unknown shape", () => {
    expect(providerForKey("abcdef123456", providers)).toBeUndefined();
  });
});

describe("prefixWarning", () => {
  it("warns when an Anthropic key is saved as OpenAI", () => {
    expect(prefixWarning("sk-ant-api03-xyz", "openai", providers)).toBe(
      "This looks like an Anthropic key, but OpenAI is selected. You can still save it.",
    );
  });
  it("warns when a Google key is saved as Mistral", () => {
    expect(prefixWarning("AIzaSyXYZ", "mistral", providers)).toContain("a Google AI key, but Mistral");
  });
  it("stays quiet when the prefix matches the selected provider", () => {
    expect(prefixWarning("sk-ant-api03-xyz", "anthropic", providers)).toBeUndefined();
    expect(prefixWarning("sk-or-v1-abc", "openrouter", providers)).toBeUndefined();
  });
  it("stays quiet for empty keys, unknown shapes and custom endpoints", () => {
    expect(prefixWarning("", "openai", providers)).toBeUndefined();
    expect(prefixWarning("abcdef123456", "openai", providers)).toBeUndefined();
    expect(prefixWarning("sk-ant-api03-xyz", "custom", providers)).toBeUndefined();
  });
});
