import { describe, expect, it } from "vitest";
import { curlyQuotes } from "./quotes.ts";

describe("curlyQuotes", () => {
  it("turns the wallet's straight quotes into the UI's curly ones", () => {
    expect(curlyQuotes('This key starts with "sk-ant-", which is how Anthropic keys start.')).toBe(
      "This key starts with “sk-ant-”, which is how Anthropic keys start.",
    );
    expect(curlyQuotes("no quotes")).toBe("no quotes");
  });
});
