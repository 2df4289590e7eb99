import { describe, expect, it } from "vitest";
import { envTemplate, importCandidates, parseDotenv } from "./dotenv.ts";

const PROVIDERS = [
  { id: "openai", displayName: "OpenAI", keyPrefixes: ["sk-proj-", "sk-"] },
  { id: "anthropic", displayName: "Anthropic", keyPrefixes: ["sk-ant-"] },
  { id: "groq", displayName: "Groq", keyPrefixes: ["gsk_"] },
  { id: "mistral", displayName: "Mistral AI", keyPrefixes: [] },
];

describe("parseDotenv", () => {
  it("reads plain, exported, quoted and commented assignments", () => {
    const text = [
      "# keys for the demo",
      "OPENAI_API_KEY=sk-test-plain",
      "export ANTHROPIC_API_KEY='sk-ant-test-single'",
      'GROQ_API_KEY="gsk_test\\"quoted\\""  # trailing comment',
      "MISTRAL_API_KEY=mistral-test-value # comment",
      "",
      "   SPACED_KEY =  sk-test-spaced  ",
      "not an assignment",
      'BROKEN="never closed',
    ].join("\r\n");
    expect(parseDotenv(text)).toEqual([
      { variable: "OPENAI_API_KEY", value: "sk-test-plain", line: 2 },
      { variable: "ANTHROPIC_API_KEY", value: "sk-ant-test-single", line: 3 },
      { variable: "GROQ_API_KEY", value: 'gsk_test"quoted"', line: 4 },
      { variable: "MISTRAL_API_KEY", value: "mistral-test-value", line: 5 },
      { variable: "SPACED_KEY", value: "sk-test-spaced", line: 7 },
    ]);
  });
  it("keeps a # inside quotes and trims pasted whitespace inside them", () => {
    expect(parseDotenv('A="x#y"\nB=" sk-test-padded\\n"')).toEqual([
      { variable: "A", value: "x#y", line: 1 },
      { variable: "B", value: "sk-test-padded", line: 2 },
    ]);
  });
});

describe("importCandidates", () => {
  it("recognises by variable name first, then by prefix, and says when they disagree", () => {
    const c = importCandidates(
      parseDotenv(
        [
          "OPENAI_API_KEY=sk-ant-test-misfiled",
          "MY_CLAUDE=sk-ant-test-byprefix",
          "GEMINI_API_KEY=AIza-test",
          "DATABASE_URL=postgres://x",
          "EMPTY=",
          "OPENAI_API_KEY=sk-proj-test-last-wins",
        ].join("\n"),
      ),
      PROVIDERS,
    );
    expect(c.map((x) => [x.variable, x.provider, x.recognisedBy, x.conflict, x.name, x.last4])).toEqual([
      ["OPENAI_API_KEY", "openai", "variable", undefined, "openai-api-key", "wins"],
      ["MY_CLAUDE", "anthropic", "prefix", undefined, "my-claude", "efix"],
      ["GEMINI_API_KEY", "google", "variable", undefined, "gemini-api-key", "test"],
      ["DATABASE_URL", undefined, undefined, undefined, "database-url", "://x"],
    ]);
  });
  it("flags a name/prefix conflict", () => {
    const [c] = importCandidates(parseDotenv("OPENAI_API_KEY=sk-ant-test-x"), PROVIDERS);
    expect(c?.provider).toBe("openai");
    expect(c?.conflict).toBe("anthropic");
  });
});

describe("envTemplate", () => {
  it("lists variable names, never values, one per provider plus each custom key", () => {
    const t = envTemplate(
      [
        { provider: "openai", name: "personal", isDefault: false },
        { provider: "openai", name: "work", isDefault: true },
        { provider: "custom", name: "local llama", isDefault: true },
        { provider: "custom", name: "gateway", isDefault: false },
        { provider: "cohere", name: "c", isDefault: true },
      ],
      (id) => id.toUpperCase(),
    );
    const assignments = t.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(assignments).toEqual(["OPENAI_API_KEY=", "LOCAL_LLAMA_API_KEY=", "CO_API_KEY=", "GATEWAY_API_KEY="]);
    expect(t).toContain("# OPENAI: work");
    expect(t).not.toMatch(/=\S/);
  });
});
