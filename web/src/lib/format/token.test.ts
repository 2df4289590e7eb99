import { describe, expect, it } from "vitest";
import { curlLine, envLine } from "./token.ts";

describe("token usage lines", () => {
  it("builds the exact curl line for cv-git's contract", () => {
    expect(curlLine("http://127.0.0.1:8080", "cvw_abc", "openai")).toBe(
      'curl -H "Authorization: Bearer cvw_abc" http://127.0.0.1:8080/api/keys/provider/openai',
    );
  });
  it("sets the tool's environment variable from the wallet", () => {
    expect(envLine("https://w.example", "cvw_abc", "anthropic", "ANTHROPIC_API_KEY")).toBe(
      'export ANTHROPIC_API_KEY="$(curl -fsS -H "Authorization: Bearer cvw_abc" https://w.example/api/keys/provider/anthropic | jq -r .key)"',
    );
  });
});
