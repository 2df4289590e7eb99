import { expect, test } from "vitest";
import { variablesFor } from "./variables.ts";

const customKey = (name: string) => Object.keys(variablesFor({ provider: "custom", name, key: "k" }))[0];

test("conventional names, two where tools disagree", () => {
  expect(variablesFor({ provider: "openai", name: "x", key: "k" })).toEqual({ OPENAI_API_KEY: "k" });
  expect(variablesFor({ provider: "google", name: "x", key: "k" })).toEqual({
    GEMINI_API_KEY: "k",
    GOOGLE_API_KEY: "k",
  });
  expect(variablesFor({ provider: "cohere", name: "x", key: "k" })).toEqual({ CO_API_KEY: "k", COHERE_API_KEY: "k" });
});

test("a custom endpoint's names come from its key's name", () => {
  expect(variablesFor({ provider: "custom", name: "Local Llama", key: "k", baseUrl: "http://h/v1" })).toEqual({
    LOCAL_LLAMA_API_KEY: "k",
    LOCAL_LLAMA_BASE_URL: "http://h/v1",
  });
  expect(customKey("  my-über  proxy (eu) ")).toBe("MY_UBER_PROXY_EU_API_KEY");
  expect(customKey("9router")).toBe("CUSTOM_9ROUTER_API_KEY");
  expect(customKey("日本")).toBe("CUSTOM_API_KEY");
  // A custom key never shadows a provider's own variable.
  expect(customKey("OpenAI")).toBe("CUSTOM_OPENAI_API_KEY");
});
