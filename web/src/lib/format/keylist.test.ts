import { describe, expect, it } from "vitest";
import {
  attentionSentence,
  attentionSummary,
  groupByProvider,
  type ListedKey,
  searchKeys,
  sortKeys,
} from "./keylist.ts";

const NAMES: Record<string, string> = {
  openai: "OpenAI",
  anthropic: "Anthropic",
  custom: "Custom (OpenAI-compatible)",
};
const name = (id: string) => NAMES[id] ?? id;

const k = (id: string, provider: string, n: string, extra: Partial<ListedKey> = {}): ListedKey => ({
  id,
  provider,
  name: n,
  isDefault: false,
  lastUsed: undefined,
  expiresInDays: undefined,
  ...extra,
});

const KEYS = [
  k("1", "openai", "work", { isDefault: true, lastUsed: 100, expiresInDays: 30 }),
  k("2", "anthropic", "Personal", { lastUsed: 300 }),
  k("3", "openai", "batch-2", { expiresInDays: -1 }),
  k("4", "custom", "Café box", { baseUrl: "https://llm.example.com/v1", expiresInDays: 3 }),
  k("5", "openai", "batch-10", { lastUsed: 200 }),
];

describe("searchKeys", () => {
  it("matches name, provider id and name, and base URL, every word, ignoring case and accents", () => {
    expect(searchKeys(KEYS, "", name)).toHaveLength(5);
    expect(searchKeys(KEYS, "OPENAI", name).map((x) => x.id)).toEqual(["1", "3", "4", "5"]);
    expect(searchKeys(KEYS, "anthropic", name).map((x) => x.id)).toEqual(["2"]);
    expect(searchKeys(KEYS, "cafe", name).map((x) => x.id)).toEqual(["4"]);
    expect(searchKeys(KEYS, "llm.example", name).map((x) => x.id)).toEqual(["4"]);
    expect(searchKeys(KEYS, "openai batch", name).map((x) => x.id)).toEqual(["3", "5"]);
    expect(searchKeys(KEYS, "nothing", name)).toEqual([]);
  });
});

describe("sortKeys", () => {
  it("by provider: provider name, default first, then name (numbers in order)", () => {
    expect(sortKeys(KEYS, "provider", name).map((x) => x.id)).toEqual(["2", "4", "1", "3", "5"]);
  });
  it("by name", () => {
    expect(sortKeys(KEYS, "name", name).map((x) => x.name)).toEqual([
      "batch-2",
      "batch-10",
      "Café box",
      "Personal",
      "work",
    ]);
  });
  it("by last used: most recent first, never used last", () => {
    expect(sortKeys(KEYS, "lastUsed", name).map((x) => x.id)).toEqual(["2", "5", "1", "3", "4"]);
  });
  it("by expiry: expired first, no expiry last", () => {
    expect(sortKeys(KEYS, "expiry", name).map((x) => x.id)).toEqual(["3", "4", "1", "5", "2"]);
  });
  it("does not change its input", () => {
    const before = KEYS.map((x) => x.id);
    sortKeys(KEYS, "name", name);
    expect(KEYS.map((x) => x.id)).toEqual(before);
  });
});

describe("groupByProvider", () => {
  it("groups consecutive keys of one provider", () => {
    const groups = groupByProvider(sortKeys(KEYS, "provider", name));
    expect(groups.map((g) => [g.provider, g.keys.map((x) => x.id)])).toEqual([
      ["anthropic", ["2"]],
      ["custom", ["4"]],
      ["openai", ["1", "3", "5"]],
    ]);
    expect(groupByProvider([])).toEqual([]);
  });
});

describe("attentionSummary", () => {
  it("counts expired, expiring within 14 days and invalid keys, each key once", () => {
    const s = attentionSummary([
      { status: "valid", expiresInDays: -2 },
      { status: "invalid", expiresInDays: 3 },
      { status: "quota_exceeded", expiresInDays: undefined },
      { status: "valid", expiresInDays: 14 },
      { status: "valid", expiresInDays: 15 },
      { status: "unverified", expiresInDays: undefined },
    ]);
    expect(s).toEqual({ total: 4, expired: 1, expiringSoon: 2, invalid: 2 });
    expect(attentionSentence(s)).toBe(
      "4 keys need attention: 1 expired, 2 expiring within 14 days, 2 invalid or out of quota.",
    );
    expect(attentionSentence(attentionSummary([]))).toBe("");
  });
});
