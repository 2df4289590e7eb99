// Key validation as the wallet uses it: run the provider key check (a KeyChecker, src/checks),
// store the result on the record, audit it. A check never fails a save: a save answers after
// at most SAVE_CHECK_BUDGET_MS (a slower check finishes in the background), and an outage
// gives the same `unreachable` a later check would.

import { type Actor, keyTarget, recordAudit } from "./audit.ts";
import type { Call } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import type { CheckResult } from "./ports/key-check.ts";
import type { KeyRecord, ValidationRecord } from "./ports/store.ts";

/** How long a save waits for its check before answering `unverified`. */
export const SAVE_CHECK_BUDGET_MS = 2500;

function toRecord(result: CheckResult): ValidationRecord {
  return {
    status: result.status,
    checkedAt: result.checkedAt,
    detail: result.detail.slice(0, 200),
    credits: result.credits,
    retryAfterSeconds: result.retryAfterSeconds,
  };
}

async function safeCheck(deps: WalletDeps, record: KeyRecord, plaintext: string): Promise<CheckResult> {
  try {
    return await deps.checker.check(record.provider, plaintext, record.baseUrl);
  } catch (error) {
    // The checker should not throw; if it does, say so without its message (it may quote a URL with a key).
    deps.logger.warn(
      { keyId: record.id, provider: record.provider, err: { name: (error as Error)?.name } },
      "key check failed",
    );
    return { status: "unreachable", detail: "the check could not run", checkedAt: new Date() };
  }
}

/** Runs a check, stores its result and audits it. */
export async function checkAndStore(
  deps: WalletDeps,
  record: KeyRecord,
  plaintext: string,
  actor: Actor,
  call?: Call,
): Promise<ValidationRecord> {
  // The same failure gets the same status however the check was started (save, "Check now",
  // the scheduler): a host that cannot be reached is `unreachable`.
  const validation = toRecord(await safeCheck(deps, record, plaintext));
  await deps.store.keys.setValidation(record.userId, record.id, validation);
  await recordAudit(
    { deps, call, userId: record.userId, teamId: record.teamId, actor },
    "key.validated",
    keyTarget(record),
    {
      provider: record.provider,
      status: validation.status,
    },
  );
  return validation;
}

/**
 * The check a save asked for: waits up to SAVE_CHECK_BUDGET_MS, then answers with what is
 * known; a slower check still completes and stores its result in the background.
 */
export async function checkOnSave(
  deps: WalletDeps,
  record: KeyRecord,
  plaintext: string,
  actor: Actor,
  call: Call,
): Promise<ValidationRecord | undefined> {
  const running = checkAndStore(deps, record, plaintext, actor, call).catch((error: unknown) => {
    deps.logger.warn({ keyId: record.id, err: { name: (error as Error)?.name } }, "storing a key check failed");
    return undefined;
  });
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), SAVE_CHECK_BUDGET_MS);
  });
  try {
    return await Promise.race([running, budget]);
  } finally {
    clearTimeout(timer);
  }
}
