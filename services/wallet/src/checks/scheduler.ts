// Re-checks stored keys in the background. Every poll (jittered) it asks the store for keys whose
// last check is older than `intervalMs`, checks them with at most `concurrencyPerProvider` checks
// in flight per provider, and backs a provider off when it answers 429 (Retry-After when given,
// else exponential from one minute). Runs never overlap: runOnce() while a run is going returns
// that run. The callbacks belong to the wallet: listDue reads the store, runCheck decrypts, checks,
// persists the result and writes the audit event.
import type { Logger } from "@cv-wallet/common/logger";
import type { CheckResult, ValidationStatus } from "./checker.ts";

export interface DueKey {
  id: string;
  ownerId: string;
  provider: string;
}

export interface ValidationSchedulerOptions<K extends DueKey = DueKey> {
  /** How old a key's last check may get (WALLET_VALIDATE_INTERVAL). */
  intervalMs: number;
  /** Spread of each wait around its nominal value, 0–1; default 0.1 (±10 %). */
  jitterRatio?: number;
  /** How often to look for due keys; default min(intervalMs, 5 min). */
  pollMs?: number;
  /** At most this many checks of one provider at once. */
  concurrencyPerProvider: number;
  /** Keys to fetch per run; default 200. */
  batchSize?: number;
  /** Keys never checked, or last checked before `olderThan`; at most `limit`. */
  listDue: (olderThan: Date, limit: number) => Promise<K[]>;
  /** Checks one key and records the result (the wallet's job); its result drives back-off. */
  runCheck: (key: K) => Promise<CheckResult>;
  logger: Logger;
  /** Start the first run after one jittered poll period (default) or at once. */
  runImmediately?: boolean;
}

export interface RunSummary {
  /** Keys checked in this run. */
  checked: number;
  /** Keys left for a later run because their provider is backing off. */
  deferred: number;
  /** runCheck calls that threw. */
  failed: number;
  byStatus: Partial<Record<ValidationStatus, number>>;
}

export interface ValidationScheduler {
  /** Stops polling and waits for the run in progress, if any. */
  stop(): Promise<void>;
  /** Runs now (or joins the run in progress). */
  runOnce(): Promise<RunSummary>;
  /** Epoch ms until which a provider is backed off (for metrics and tests). */
  backoffUntil(provider: string): number | undefined;
}

const BASE_BACKOFF_MS = 60_000;
const MAX_BACKOFF_MS = 3_600_000;

export function startValidationScheduler<K extends DueKey>(
  options: ValidationSchedulerOptions<K>,
): ValidationScheduler {
  const jitterRatio = Math.min(Math.max(options.jitterRatio ?? 0.1, 0), 1);
  const pollMs = options.pollMs ?? Math.min(options.intervalMs, 300_000);
  const batchSize = options.batchSize ?? 200;
  const concurrency = Math.max(1, Math.floor(options.concurrencyPerProvider));
  const log = options.logger;
  const backoff = new Map<string, { until: number; strikes: number }>();
  let running: Promise<RunSummary> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const jittered = (ms: number) => Math.max(0, Math.round(ms * (1 + jitterRatio * (2 * Math.random() - 1))));

  function schedule(delay: number) {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      runOnce()
        .catch(() => {}) // logged inside
        .finally(() => schedule(jittered(pollMs)));
    }, delay);
    timer.unref();
  }

  function backedOff(provider: string, now: number): boolean {
    const b = backoff.get(provider);
    return b !== undefined && b.until > now;
  }

  function noteResult(provider: string, result: CheckResult) {
    if (result.status === "rate_limited") {
      const strikes = (backoff.get(provider)?.strikes ?? 0) + 1;
      const ms =
        result.retryAfterSeconds !== undefined
          ? Math.min(Math.max(result.retryAfterSeconds * 1000, 1000), MAX_BACKOFF_MS)
          : Math.min(BASE_BACKOFF_MS * 2 ** (strikes - 1), MAX_BACKOFF_MS);
      backoff.set(provider, { until: Date.now() + ms, strikes });
      log.warn({ provider, backoffMs: ms }, "provider rate-limited key checks; backing off");
    } else if (result.status !== "unreachable") {
      backoff.delete(provider);
    }
  }

  async function runProvider(provider: string, keys: K[], summary: RunSummary) {
    let next = 0;
    const worker = async () => {
      while (next < keys.length && !stopped) {
        if (backedOff(provider, Date.now())) break;
        const key = keys[next++]!;
        try {
          const result = await options.runCheck(key);
          summary.checked++;
          summary.byStatus[result.status] = (summary.byStatus[result.status] ?? 0) + 1;
          noteResult(provider, result);
        } catch (error) {
          summary.failed++;
          // Only the error's name: a callback's message is not ours to vouch for.
          log.error(
            { provider, keyId: key.id, errorName: error instanceof Error ? error.name : typeof error },
            "scheduled key check failed",
          );
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
    summary.deferred += keys.length - next;
  }

  async function run(): Promise<RunSummary> {
    const summary: RunSummary = { checked: 0, deferred: 0, failed: 0, byStatus: {} };
    const now = Date.now();
    const due = await options.listDue(new Date(now - options.intervalMs), batchSize);
    const byProvider = new Map<string, K[]>();
    const seen = new Set<string>();
    for (const key of due) {
      if (seen.has(key.id)) continue;
      seen.add(key.id);
      if (backedOff(key.provider, now)) {
        summary.deferred++;
        continue;
      }
      const list = byProvider.get(key.provider) ?? [];
      list.push(key);
      byProvider.set(key.provider, list);
    }
    await Promise.all([...byProvider].map(([provider, keys]) => runProvider(provider, keys, summary)));
    if (due.length > 0) log.info({ ...summary, due: due.length }, "scheduled key checks done");
    return summary;
  }

  function runOnce(): Promise<RunSummary> {
    if (running) return running;
    running = run()
      .catch((error: unknown) => {
        log.error(
          { errorName: error instanceof Error ? error.name : typeof error },
          "listing keys due for a check failed",
        );
        throw error;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  if (options.intervalMs > 0) schedule(options.runImmediately ? 0 : jittered(pollMs));

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (running) await running.catch(() => {});
    },
    runOnce,
    backoffUntil(provider) {
      const b = backoff.get(provider);
      return b && b.until > Date.now() ? b.until : undefined;
    },
  };
}
