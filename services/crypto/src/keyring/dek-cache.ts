// Plaintext DEKs live only here: an lru-cache bounded by entry count (least recently used goes
// first) and by age (counted from the load, not the last use), whose `dispose` zero-fills a DEK
// whenever it leaves, for whatever reason (evicted, expired, replaced, deleted, cleared). Each
// entry also holds the DEK as a KeyObject, because importing raw key bytes on every
// createCipheriv was a third of the server's CPU per call; its native copy is dropped with the
// entry and cleared by Node (OPENSSL_clear_free) when the object is collected.
//
// Concurrent misses for the same DEK share one load, so 1,000 simultaneous decrypts of a cold
// tenant cost one KMS call. That coalescing is ours rather than lru-cache's `fetch`: a hit
// stays a synchronous `get`, where `fetch` would add a promise to every call.
//
// Callers never hold a DEK across an await: `use` hands it to a synchronous function, and
// a DEK evicted between its load and its use is loaded again rather than used zeroed.
import { createSecretKey, type KeyObject } from "node:crypto";
import { unavailable } from "@cv-wallet/common/errors";
import { LRUCache } from "lru-cache";

export interface DekCacheOptions {
  ttlMs: number;
  maxEntries: number;
  /** Clock in milliseconds, for tests. */
  now?: () => number;
  onHit?: () => void;
  onMiss?: () => void;
}

interface Entry {
  dek: Buffer;
  /** The same key as a KeyObject: createCipheriv then skips importing raw bytes on every message. */
  key: KeyObject;
  zeroed: boolean;
}

export class DekCache {
  readonly #entries: LRUCache<string, Entry>;
  readonly #loading = new Map<string, Promise<Entry>>();
  readonly #options: DekCacheOptions;

  constructor(options: DekCacheOptions) {
    // Coalescing hands the loaded entry to every waiter through the cache, so it needs room.
    if (!(options.ttlMs > 0) || !(options.maxEntries >= 1))
      throw new Error("DEK cache needs ttlMs > 0, maxEntries >= 1");
    this.#options = options;
    this.#entries = new LRUCache<string, Entry>({
      max: options.maxEntries,
      ttl: options.ttlMs,
      updateAgeOnGet: false,
      dispose: (entry) => {
        entry.dek.fill(0);
        entry.zeroed = true;
      },
      // A test clock moves in jumps; lru-cache's default 1 ms cache of "now" would hide them.
      ...(options.now ? { perf: { now: options.now }, ttlResolution: 0 } : {}),
    });
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
      const hit = this.#entries.get(id);
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
    for (const id of [...this.#entries.keys()]) if (id.startsWith(prefix)) this.#entries.delete(id);
  }

  /** Zeroes and forgets everything (shutdown). */
  clear(): void {
    this.#entries.clear();
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
        const entry: Entry = { dek, key: createSecretKey(dek), zeroed: false };
        // A previous entry under this id (if any) is disposed, i.e. zeroed, by the set.
        this.#entries.set(id, entry);
        return entry;
      })
      .finally(() => this.#loading.delete(id));
    this.#loading.set(id, promise);
    return promise;
  }
}
