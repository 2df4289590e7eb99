// Key prefix hints: what a provider's keys start with, and whether a pasted key looks like it
// belongs to another provider (a warning, never a block: the wallet decides).

export interface ProviderPrefixes {
  id: string;
  displayName: string;
  keyPrefixes: readonly string[];
}

/** "Keys start with sk-ant-." or, for providers without a fixed prefix, undefined. */
export function prefixHint(provider: ProviderPrefixes | undefined): string | undefined {
  if (!provider || provider.keyPrefixes.length === 0) return undefined;
  const list = provider.keyPrefixes.map((p) => `“${p}”`);
  const joined = list.length === 1 ? list[0] : `${list.slice(0, -1).join(", ")} or ${list.at(-1)}`;
  return `${provider.displayName} keys start with ${joined}.`;
}

/** The provider whose prefix is the longest match for `key`, if any. */
export function providerForKey<P extends ProviderPrefixes>(key: string, providers: readonly P[]): P | undefined {
  const trimmed = key.trim();
  let best: { provider: P; length: number } | undefined;
  for (const provider of providers) {
    for (const prefix of provider.keyPrefixes) {
      if (prefix && trimmed.startsWith(prefix) && (!best || prefix.length > best.length)) {
        best = { provider, length: prefix.length };
      }
    }
  }
  return best?.provider;
}

/**
 * A warning when the pasted key's prefix belongs to another provider than the selected one
 * (an Anthropic "sk-ant-" key saved as OpenAI). Custom endpoints take any key: no warning.
 */
export function prefixWarning(
  key: string,
  selectedId: string,
  providers: readonly ProviderPrefixes[],
): string | undefined {
  if (!key.trim() || selectedId === "custom") return undefined;
  const owner = providerForKey(key, providers);
  if (!owner || owner.id === selectedId) return undefined;
  const selected = providers.find((p) => p.id === selectedId);
  const article = /^[aeiou]/i.test(owner.displayName) ? "an" : "a";
  return `This looks like ${article} ${owner.displayName} key, but ${selected?.displayName ?? selectedId} is selected. You can still save it.`;
}

/** "an Anthropic", "a Groq": the provider's name with its article. */
export function withArticle(name: string): string {
  return `${/^[aeiou]/i.test(name) ? "an" : "a"} ${name}`;
}
