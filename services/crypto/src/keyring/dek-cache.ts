// Plaintext DEKs live only here: bounded by entry count (least recently used goes first)
// and by age, zero-filled whenever they leave. Each entry also holds the DEK as a KeyObject,
// because importing raw key bytes on every createCipheriv was a third of the server's CPU per
// call; its native copy is dropped with the entry and cleared by Node (OPENSSL_clear_free)
// when the object is collected. Concurrent misses for the same DEK share one
// load, so 1,000 simultaneous decrypts of a cold tenant cost one KMS call.
//
// Callers never hold a DEK across an await: `use` hands it to a synchronous function, and
// a DEK evicted between its load and its use is loaded again rather than used zeroed.
import { createSecretKey, type KeyObject } from "node:crypto";
import { unavailable } from "@cv-wallet/common/errors";

export interface DekCacheOptions {
  ttlMs: number;
  maxEntries: number;
  /** Clock, for tests. */
  now?: () => number;
  onHit?: () => void;
  onMiss?: () => void;
}

interface Entry {
  dek: Buffer;
  /** The same key as a KeyObject: createCipheriv then skips importing raw bytes on every message. */
  key: KeyObject;
  expiresAt: number;
  zeroed: boolean;
}

export class DekCache {
  readonly #entries = new Map<string, Entry>();
  readonly #loading = new Map<string, Promise<Entry>>();
  readonly #options: DekCacheOptions;
  readonly #now: () => number;

  constructor(options: DekCacheOptions) {
    // Coalescing hands the loaded entry to every waiter through the map, so it needs room.
    if (!(options.ttlMs > 0) || !(options.maxEntries >= 1))
      throw new Error("DEK cache needs ttlMs > 0, maxEntries >= 1");
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Runs `fn` with the DEK for `id`, loading it (once, however many callers wait) on a miss.
   * `fn` gets the DEK as a KeyObject (what the cipher uses) and as the raw buffer (which is
   * zeroed on eviction; tests look at it). Neither may be kept beyond the call.
   */
  async use<T>(id: string, load: () => Promise<Uint8Array>, fn: (key: KeyObject, dek: Buffer) => T): Promise<T> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const hit = this.#lookup(id);
      if (hit) {
        this.#options.onHit?.();
        return fn(hit.key, hit.dek);
      }
      const entry = await this.#fill(id, load);
      if (!entry.zeroed) return fn(entry.key, entry.dek);
    }
    throw unavailable("data key cache is too small for the current load; raise CRYPTO_DEK_CACHE_MAX_ENTRIES");
  }

  /** Drops every cached DEK whose id starts with `prefix` (a destroyed key). */
  deletePrefix(prefix: string): void {
    for (const [id, entry] of this.#entries) if (id.startsWith(prefix)) this.#evict(id, entry);
  }

  /** Zeroes and forgets everything (shutdown). */
  clear(): void {
    for (const [id, entry] of this.#entries) this.#evict(id, entry);
  }

  #lookup(id: string): Entry | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#evict(id, entry);
      return undefined;
    }
    // Re-insert to mark it most recently used (Map keeps insertion order).
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    return entry;
  }

  #fill(id: string, load: () => Promise<Uint8Array>): Promise<Entry> {
    const pending = this.#loading.get(id);
    if (pending) return pending;
    this.#options.onMiss?.();
    const promise = load()
      .then((source) => {
        // Own, unpooled copy so zeroing it cannot touch anything else, and wipe the source.
        const dek = Buffer.alloc(source.length);
        dek.set(source);
        source.fill(0);
        const entry: Entry = {
          dek,
          key: createSecretKey(dek),
          expiresAt: this.#now() + this.#options.ttlMs,
          zeroed: false,
        };
        const previous = this.#entries.get(id);
        if (previous) this.#evict(id, previous);
        this.#entries.set(id, entry);
        this.#trim();
        return entry;
      })
      .finally(() => this.#loading.delete(id));
    this.#loading.set(id, promise);
    return promise;
  }

  #trim(): void {
    for (const [id, entry] of this.#entries) {
      if (this.#entries.size <= this.#options.maxEntries) break;
      this.#evict(id, entry);
    }
  }

  #evict(id: string, entry: Entry): void {
    entry.dek.fill(0);
    entry.zeroed = true;
    this.#entries.delete(id);
  }
}
