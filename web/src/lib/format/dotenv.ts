// Reading a pasted .env file for import, and writing the variable-names-only template. Values
// stay in the browser until the person confirms the preview; the preview shows only the last 4.

import { customVariable, PROVIDER_VARIABLES, providerForVariable } from "../variables.ts";
import { type ProviderPrefixes, providerForKey } from "./prefix.ts";

export interface DotenvEntry {
  variable: string;
  value: string;
  /** 1-based line number in the pasted text. */
  line: number;
}

const ASSIGNMENT = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/;

/**
 * The assignments in a .env text: `NAME=value`, `export NAME=value`, single- or double-quoted
 * values (double quotes understand \n, \", \\), `#` comments on their own line or after an
 * unquoted value, blank lines. Multi-line quoted values are not supported (no API key has one);
 * such a line and anything unparseable are skipped. Values are trimmed (pasted whitespace).
 */
export function parseDotenv(text: string): DotenvEntry[] {
  const entries: DotenvEntry[] = [];
  text.split(/\r\n|\r|\n/).forEach((raw, i) => {
    const m = ASSIGNMENT.exec(raw);
    if (!m) return;
    const variable = m[1] ?? "";
    const rest = (m[2] ?? "").trim();
    let value: string | undefined;
    const quote = rest.charAt(0);
    if (quote === '"' || quote === "'") {
      const end = closingQuote(rest, quote);
      if (end < 0) return;
      const inner = rest.slice(1, end);
      value =
        quote === '"' ? inner.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "t" ? "\t" : c)) : inner;
    } else {
      value = rest.replace(/\s+#.*$/, "");
    }
    entries.push({ variable, value: value.trim(), line: i + 1 });
  });
  return entries;
}

function closingQuote(text: string, quote: string): number {
  for (let i = 1; i < text.length; i++) {
    if (quote === '"' && text[i] === "\\") {
      i++;
      continue;
    }
    if (text[i] === quote) return i;
  }
  return -1;
}

export type Recognition = "variable" | "prefix";

export interface ImportCandidate {
  variable: string;
  line: number;
  /** The provider it will be saved under; undefined when neither the name nor the prefix says. */
  provider: string | undefined;
  recognisedBy: Recognition | undefined;
  /** When the name says one provider and the key's prefix another. */
  conflict: string | undefined;
  /** The name the key gets in the wallet (editable in the preview). */
  name: string;
  value: string;
  last4: string;
}

/**
 * What each assignment would become: the provider by variable name first (OPENAI_API_KEY),
 * else by the key's prefix (an `sk-ant-` value under any name); a name from the variable
 * ("OPENAI_API_KEY_WORK" → "openai-api-key-work"). Empty values are dropped; a variable seen
 * twice keeps its last value, as dotenv does.
 */
export function importCandidates(
  entries: readonly DotenvEntry[],
  providers: readonly ProviderPrefixes[],
): ImportCandidate[] {
  const last = new Map<string, DotenvEntry>();
  for (const e of entries) if (e.value) last.set(e.variable, e);
  return [...last.values()].map((e) => {
    const byName = providerForVariable(e.variable);
    const byPrefix = providerForKey(e.value, providers)?.id;
    const provider = byName ?? byPrefix;
    return {
      variable: e.variable,
      line: e.line,
      provider,
      recognisedBy: byName ? "variable" : byPrefix ? "prefix" : undefined,
      conflict: byName && byPrefix && byPrefix !== byName ? byPrefix : undefined,
      name: e.variable.toLowerCase().replace(/_/g, "-"),
      value: e.value,
      last4: e.value.slice(-4),
    };
  });
}

export interface TemplateKey {
  provider: string;
  name: string;
  isDefault: boolean;
}

/**
 * A .env template with the variable names of the keys in the wallet, never a value: one line
 * per provider (its standard variable, named after the default key) and one per custom key.
 */
export function envTemplate(keys: readonly TemplateKey[], providerName: (id: string) => string): string {
  const lines = [
    "# Variables for the keys in cv-wallet. Values are not included: fill them in,",
    "# or let cv-git set them.",
  ];
  const seen = new Set<string>();
  const ordered = [...keys].sort((a, b) => Number(b.isDefault) - Number(a.isDefault));
  for (const k of ordered) {
    const variable = PROVIDER_VARIABLES[k.provider] ?? customVariable(k.name);
    if (seen.has(variable)) continue;
    seen.add(variable);
    lines.push(`# ${providerName(k.provider)}: ${k.name}`, `${variable}=`);
  }
  return `${lines.join("\n")}\n`;
}
