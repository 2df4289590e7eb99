// In-process limits. They bound abuse per wallet process; with N processes behind a load
// balancer the effective limit is up to N times higher, which the README states.
import { AppError } from "@cv-wallet/common/errors";

const MAX_ENTRIES = 100_000;

/** A token bucket per caller: `perMinute` retrievals, refilled continuously, burst = perMinute. */
export class RateLimiter {
  readonly #perMinute: number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(perMinute: number) {
    this.#perMinute = perMinute;
  }

  /** Takes one unit or throws resource_exhausted with the seconds until one is available. */
  take(caller: string, now = Date.now()): void {
    const rate = this.#perMinute / 60_000;
    const bucket = this.#buckets.get(caller) ?? { tokens: this.#perMinute, at: now };
    bucket.tokens = Math.min(this.#perMinute, bucket.tokens + (now - bucket.at) * rate);
    bucket.at = now;
    if (bucket.tokens < 1) {
      this.#buckets.set(caller, bucket);
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / rate / 1000));
      throw new AppError("resource_exhausted", "too many key retrievals; slow down", { retryAfterSeconds });
    }
    bucket.tokens -= 1;
    this.#buckets.delete(caller); // re-insert so Map order is least recently used first
    this.#buckets.set(caller, bucket);
    if (this.#buckets.size > MAX_ENTRIES) this.#buckets.delete(this.#buckets.keys().next().value!);
  }
}

/** Failed attempts per key within a fixed window; blocks once `max` is reached. */
export class FailureThrottle {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #entries = new Map<string, { count: number; resetAt: number }>();

  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** Throws resource_exhausted when `key` has failed too often in the current window. */
  check(key: string, now = Date.now()): void {
    const entry = this.#entries.get(key);
    if (!entry || entry.resetAt <= now) return;
    if (entry.count >= this.#max) {
      throw new AppError("resource_exhausted", "too many failed sign-ins; try again later", {
        retryAfterSeconds: Math.ceil((entry.resetAt - now) / 1000),
      });
    }
  }

  fail(key: string, now = Date.now()): void {
    const entry = this.#entries.get(key);
    if (!entry || entry.resetAt <= now) this.#entries.set(key, { count: 1, resetAt: now + this.#windowMs });
    else entry.count++;
    if (this.#entries.size > MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
  }

  reset(key: string): void {
    this.#entries.delete(key);
  }
}

/** Says yes once per `windowMs` per key: how often a metadata read is worth an audit event. */
export class OncePer {
  readonly #windowMs: number;
  readonly #last = new Map<string, number>();

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  due(key: string, now = Date.now()): boolean {
    const last = this.#last.get(key);
    if (last !== undefined && now - last < this.#windowMs) return false;
    this.#last.delete(key);
    this.#last.set(key, now);
    if (this.#last.size > MAX_ENTRIES) this.#last.delete(this.#last.keys().next().value!);
    return true;
  }
}
