// Encryption counters per DEK version (the nonce-safety budget). Increments are gathered in
// memory and written as atomic store increments, at least every `flushMs` and whenever
// `maxPending` have piled up, so the count another instance sees lags by a bounded amount.
import type { Logger } from "@cv-wallet/common/logger";
import type { TenantKeyStore } from "../store/port.ts";

export class EncryptionCounters {
  readonly #pending = new Map<string, { name: string; version: number; count: number }>();
  readonly #store: TenantKeyStore;
  readonly #maxPending: number;
  readonly #logger: Logger;
  readonly #timer: NodeJS.Timeout;
  #total = 0;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: TenantKeyStore, logger: Logger, options: { flushMs: number; maxPending: number }) {
    this.#store = store;
    this.#logger = logger;
    this.#maxPending = options.maxPending;
    this.#timer = setInterval(() => void this.flush(), options.flushMs);
    this.#timer.unref();
  }

  /** Not yet written increments for one version. */
  pending(name: string, version: number): number {
    return this.#pending.get(id(name, version))?.count ?? 0;
  }

  add(name: string, version: number): void {
    const key = id(name, version);
    const entry = this.#pending.get(key);
    if (entry) entry.count++;
    else this.#pending.set(key, { name, version, count: 1 });
    if (++this.#total >= this.#maxPending) void this.flush();
  }

  /** Forgets a destroyed key's increments. */
  drop(name: string): void {
    for (const [key, entry] of this.#pending) {
      if (entry.name === name) {
        this.#total -= entry.count;
        this.#pending.delete(key);
      }
    }
  }

  /** Writes what is pending; flushes run one after another. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.#pending.size === 0) return;
      const batch = [...this.#pending.values()];
      this.#pending.clear();
      this.#total = 0;
      try {
        await this.#store.addEncryptions(batch);
      } catch (err) {
        // Put them back: a counter must never lose increments.
        for (const entry of batch) {
          const key = id(entry.name, entry.version);
          const now = this.#pending.get(key);
          if (now) now.count += entry.count;
          else this.#pending.set(key, entry);
          this.#total += entry.count;
        }
        this.#logger.warn({ err }, "could not write encryption counters; will retry");
      }
    });
    return this.#flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}

function id(name: string, version: number): string {
  return `${name}\u0000${version}`;
}
