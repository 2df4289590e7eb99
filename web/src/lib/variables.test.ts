import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { customVariable, envAssignment, providerForVariable, variableFor } from "./variables.ts";

describe("variableFor", () => {
  it("names each provider's variable", () => {
    expect(variableFor("openai", "work")).toBe("OPENAI_API_KEY");
    expect(variableFor("google", "x")).toBe("GEMINI_API_KEY");
    expect(variableFor("cohere", "x")).toBe("CO_API_KEY");
    expect(variableFor("openrouter", "x")).toBe("OPENROUTER_API_KEY");
  });
  it("derives a custom endpoint's variable from the key name", () => {
    expect(variableFor("custom", "local llama")).toBe("LOCAL_LLAMA_API_KEY");
    expect(customVariable("lm-studio.v1")).toBe("LM_STUDIO_V1_API_KEY");
    expect(customVariable("  ollama  ")).toBe("OLLAMA_API_KEY");
    expect(customVariable("Mix3d Case")).toBe("MIX3D_CASE_API_KEY");
    expect(customVariable("2nd box")).toBe("CUSTOM_2ND_BOX_API_KEY");
    expect(customVariable("vllm")).toBe("VLLM_API_KEY");
    expect(customVariable("café")).toBe("CAFE_API_KEY");
    expect(customVariable("—")).toBe("CUSTOM_API_KEY");
    expect(customVariable("openai")).toBe("CUSTOM_OPENAI_API_KEY");
  });
  it("always gives a name a shell accepts", () => {
    fc.assert(
      fc.property(fc.string(), (name) => {
        expect(customVariable(name)).toMatch(/^[A-Z_][A-Z0-9_]*_API_KEY$|^CUSTOM_API_KEY$/);
      }),
    );
  });
});

describe("providerForVariable", () => {
  it("recognises the standard names and common aliases", () => {
    expect(providerForVariable("ANTHROPIC_API_KEY")).toBe("anthropic");
    expect(providerForVariable("openai_api_key")).toBe("openai");
    expect(providerForVariable("GOOGLE_API_KEY")).toBe("google");
    expect(providerForVariable("COHERE_API_KEY")).toBe("cohere");
    expect(providerForVariable("DATABASE_URL")).toBeUndefined();
  });
});

describe("envAssignment", () => {
  it("writes plain keys as they are", () => {
    expect(envAssignment("OPENAI_API_KEY", "sk-test-abc_123")).toBe("OPENAI_API_KEY=sk-test-abc_123");
  });
  it("quotes values a shell would split or expand", () => {
    expect(envAssignment("X_API_KEY", 'a b"c$d\\e')).toBe('X_API_KEY="a b\\"c\\$d\\\\e"');
    expect(envAssignment("X_API_KEY", "a#b")).toBe('X_API_KEY="a#b"');
  });
});
