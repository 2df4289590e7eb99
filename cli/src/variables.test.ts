import { expect, test } from "vitest";
import { customStem, variablesFor } from "./variables.ts";

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
  expect(customStem("  my-über  proxy (eu) ")).toBe("MY_UBER_PROXY_EU");
  expect(customStem("9router")).toBe("CUSTOM_9ROUTER");
  expect(customStem("日本")).toBe("CUSTOM");
});
