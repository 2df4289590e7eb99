// Limits. The counting ones (sign-in failures, sign-ups, key retrievals) are rate-limiter-flexible
// limiters built by limits/limiters.ts: in memory for the embedded SQLite store, in MongoDB when
// the wallet runs on MongoDB, so N wallet instances share one limit instead of N.
import { AppError } from "@cv-wallet/common/errors";
import { type RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible";

export type Limiter = RateLimiterAbstract;

const MAX_ENTRIES = 100_000;

/** Whole seconds until a refused caller may try again (at least 1). */
export const secondsOf = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

/** "42 seconds", "15 minutes", "3 hours": the real wait, for messages people read. */
export function describeWait(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  if (seconds < 90 * 60) return `${Math.ceil(seconds / 60)} minutes`;
  return `${Math.ceil(seconds / 3600)} hours`;
}

/** The resource_exhausted error for a refused limiter: Retry-After and the message say the wait. */
export function tooMany(what: string, msBeforeNext: number): AppError {
  const seconds = secondsOf(msBeforeNext);
  return new AppError("resource_exhausted", `${what}; try again in ${describeWait(seconds)}`, {
    retryAfterSeconds: seconds,
  });
}

/**
 * Takes `points` from `key`; a refusal becomes resource_exhausted naming the wait. A store
 * failure (MongoDB unreachable) is unavailable: the wallet refuses rather than skip the limit.
 */
export async function consume(
  limiter: Limiter,
  key: string,
  what: string,
  onRefused?: (error: AppError, startsBlock: boolean) => Promise<void>,
): Promise<RateLimiterRes> {
  try {
    return await limiter.consume(key, 1);
  } catch (error) {
    if (error instanceof RateLimiterRes) {
      const refused = tooMany(what, error.msBeforeNext);
      // The first refusal of a window is the one that starts a lockout.
      await onRefused?.(refused, error.consumedPoints === limiter.points + 1);
      throw refused;
    }
    throw new AppError("unavailable", "the limit store is not reachable; try again shortly", { cause: error });
  }
}

/**
 * Refuses (resource_exhausted, with the wait) once `key` has spent its points, without taking
 * one: for limits that count only failures, charged afterwards with `penalty`.
 */
export async function refuseWhenSpent(limiter: Limiter, key: string, what: string): Promise<void> {
  let spent: RateLimiterRes | null;
  try {
    spent = await limiter.get(key);
  } catch (error) {
    throw new AppError("unavailable", "the limit store is not reachable; try again shortly", { cause: error });
  }
  if (spent && spent.consumedPoints >= limiter.points) throw tooMany(what, spent.msBeforeNext);
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
