// The nonce budget of each DEK version. Random 96-bit nonces are safe for about 2^32
// messages per key, so the count of messages sealed under a version must never be lower than
// the truth, also across crashes and instances. Encryptions are therefore reserved in the
// store, durably, before they are used: a block at a time, the block doubling while a version
// is busy (1, 2, 4, … up to `maxBlock`), so a quiet key is counted exactly and a busy one
// costs one store write per `maxBlock` messages. A crash loses only unused reservations,
// which over-counts: safe. Unused reservations are handed back on close and before a count
// is reported, so GetKeyInfo shows what was sealed.
import type { TenantKeyStore } from "../store/port.ts";

interface Block {
  name: string;
  version: number;
  /** Reserved in the store and not used yet. */
  remaining: number;
  /** The size of the next reservation. */
  next: number;
  /** The stored count reached the limit: the version must rotate. */
  spent: boolean;
}

export class EncryptionBudget {
  readonly #blocks = new Map<string, Block>();
  readonly #reserving = new Map<string, Promise<void>>();
  readonly #store: TenantKeyStore;
  readonly #maxBlock: number;

  constructor(store: TenantKeyStore, options: { maxBlock: number }) {
    this.#store = store;
    this.#maxBlock = options.maxBlock;
  }

  /** Takes one encryption from what this instance already reserved, if any: the common case, with no await. */
  takeReserved(name: string, version: number): boolean {
    const block = this.#blocks.get(id(name, version));
    if (!block || block.remaining === 0) return false;
    block.remaining--;
    return true;
  }

  /**
   * Takes one encryption of `version`'s budget, reserving more in the store first when none
   * is left here. False when the version has spent `limit` (the caller rotates). Throws what
   * the store throws (unavailable): then nothing may be sealed.
   */
  async take(name: string, version: number, storedCount: number, limit: number): Promise<boolean> {
    const key = id(name, version);
    for (;;) {
      const block = this.#blocks.get(key);
      if (block && block.remaining > 0) {
        block.remaining--;
        return true;
      }
      if (block?.spent || (!block && storedCount >= limit)) return false;
      let reserving = this.#reserving.get(key);
      if (!reserving) {
        reserving = this.#reserve(key, name, version, limit).finally(() => this.#reserving.delete(key));
        this.#reserving.set(key, reserving);
      }
      await reserving;
    }
  }

  async #reserve(key: string, name: string, version: number, limit: number): Promise<void> {
    let block = this.#blocks.get(key);
    if (!block) {
      block = { name, version, remaining: 0, next: 1, spent: false };
      this.#blocks.set(key, block);
    }
    const size = block.next;
    const total = await this.#store.reserveEncryptions(name, version, size);
    if (!this.#blocks.has(key)) return; // dropped meanwhile (the key was destroyed)
    if (total === undefined) {
      block.spent = true; // the version is gone
      return;
    }
    const before = total - size;
    const usable = Math.max(0, Math.min(size, limit - before));
    // Whatever lies beyond the limit is handed back at once: it will never be used.
    if (usable < size) await this.#store.addEncryptions([{ name, version, count: usable - size }]);
    block.remaining += usable;
    block.spent = before + usable >= limit;
    block.next = Math.min(size * 2, this.#maxBlock);
  }

  /** Forgets a destroyed key's reservations (its versions are gone from the store). */
  drop(name: string): void {
    for (const [key, block] of this.#blocks) if (block.name === name) this.#blocks.delete(key);
  }

  /**
   * Hands unused reservations back to the store (all, or one key's), so the stored counts
   * are exact again. Synchronously taken out of the blocks first: a concurrent take() then
   * reserves anew rather than using what is being returned.
   */
  async release(name?: string): Promise<void> {
    const increments: { name: string; version: number; count: number }[] = [];
    for (const block of this.#blocks.values()) {
      if ((name !== undefined && block.name !== name) || block.remaining === 0) continue;
      increments.push({ name: block.name, version: block.version, count: -block.remaining });
      block.remaining = 0;
    }
    await this.#store.addEncryptions(increments);
  }
}

function id(name: string, version: number): string {
  return `${name}\u0000${version}`;
}
