// Properties that must hold for every input, not just the examples.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { layoutBars } from "./chart.ts";
import { maskedKey, maskSecret } from "./mask.ts";
import { prefixWarning, providerForKey } from "./prefix.ts";

const keyChars = fc.stringMatching(/^[\x21-\x7e]{8,80}$/);

describe("masking, for any key", () => {
  it("shows at most its last 4 characters", () => {
    fc.assert(
      fc.property(keyChars, (secret) => {
        const masked = maskSecret(secret);
        expect(masked.startsWith("••••")).toBe(true);
        expect(masked.length).toBeLessThanOrEqual(8);
        expect(secret.endsWith(masked.slice(4))).toBe(true);
        expect(maskedKey(secret.slice(-4))).toBe(masked);
      }),
    );
  });
});

describe("prefix hints, for any key", () => {
  const providers = [
    { id: "openai", displayName: "OpenAI", keyPrefixes: ["sk-proj-", "sk-"] },
    { id: "anthropic", displayName: "Anthropic", keyPrefixes: ["sk-ant-"] },
    { id: "openrouter", displayName: "OpenRouter", keyPrefixes: ["sk-or-"] },
    { id: "groq", displayName: "Groq", keyPrefixes: ["gsk_"] },
    { id: "mistral", displayName: "Mistral", keyPrefixes: [] },
  ];

  it("never warns when the key is saved under the provider its prefix names", () => {
    fc.assert(
      fc.property(keyChars, (key) => {
        const owner = providerForKey(key, providers);
        if (owner) expect(prefixWarning(key, owner.id, providers)).toBeUndefined();
      }),
    );
  });

  it("warns exactly when another provider owns the prefix", () => {
    fc.assert(
      fc.property(fc.constantFrom(...providers), keyChars, (selected, key) => {
        const owner = providerForKey(key, providers);
        const warning = prefixWarning(key, selected.id, providers);
        expect(warning !== undefined).toBe(owner !== undefined && owner.id !== selected.id);
      }),
    );
  });
});

describe("chart layout, for any counts", () => {
  it("keeps every bar inside the plot and the tallest at the top", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 100_000 }), { minLength: 1, maxLength: 366 }), (counts) => {
        const days = counts.map((count, i) => ({ date: String(i), count }));
        const { bars, max, total } = layoutBars(days, 300, 100);
        expect(total).toBe(counts.reduce((a, b) => a + b, 0));
        expect(max).toBeGreaterThanOrEqual(Math.max(...counts));
        for (const bar of bars) {
          expect(bar.y).toBeGreaterThanOrEqual(0);
          expect(bar.y + bar.height).toBeCloseTo(100);
          expect(bar.x + bar.width).toBeLessThanOrEqual(300 + 1e-9);
        }
      }),
    );
  });
});
