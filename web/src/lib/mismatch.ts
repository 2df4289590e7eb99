// Which saved keys look like another provider's. The wallet sends a key's plaintext only on a
// reveal and keeps no prefix in the record, so the browser notes what it saw when it held the
// plaintext (on save, on reveal): the key id, its last 4 and the provider its prefix belongs to.
// No part of the key beyond the last 4 the list already shows is stored. A note whose last 4 no
// longer match (the key was replaced elsewhere) is ignored.
import { type ProviderPrefixes, providerForKey } from "./format/prefix.ts";

const STORAGE = "cvw.prefix-mismatch.v1";

type Notes = Record<string, { last4: string; looksLike: string }>;

function read(): Notes {
  try {
    const raw = globalThis.localStorage?.getItem(STORAGE);
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    return parsed && typeof parsed === "object" ? (parsed as Notes) : {};
  } catch {
    return {};
  }
}

function write(notes: Notes): void {
  try {
    globalThis.localStorage?.setItem(STORAGE, JSON.stringify(notes));
  } catch {
    // Private mode or a full quota: the hint is a convenience.
  }
}

/** The provider a key's prefix belongs to when it is not the one it is saved under (custom takes any key). */
export function mismatchOf(
  plaintext: string,
  savedAs: string,
  providers: readonly ProviderPrefixes[],
): string | undefined {
  if (savedAs === "custom") return undefined;
  const owner = providerForKey(plaintext, providers)?.id;
  return owner && owner !== savedAs ? owner : undefined;
}

/** Remembers (or forgets) what the browser saw of key `id` while it held the plaintext. */
export function notePlaintext(
  key: { id: string; provider: string; last4: string },
  plaintext: string,
  providers: readonly ProviderPrefixes[],
): void {
  const notes = read();
  const looksLike = mismatchOf(plaintext, key.provider, providers);
  if (looksLike) notes[key.id] = { last4: key.last4, looksLike };
  else delete notes[key.id];
  write(notes);
}

/** The provider key `id` looks like, when the browser saw a mismatch for its current secret. */
export function noteFor(key: { id: string; provider: string; last4: string }): string | undefined {
  const note = read()[key.id];
  return note && note.last4 === key.last4 && note.looksLike !== key.provider ? note.looksLike : undefined;
}

export function forget(id: string): void {
  const notes = read();
  delete notes[id];
  write(notes);
}
