// Reminders that remind: a key's webhook message is sent once when the key enters its reminder
// window, once when it expires, and once when a scheduled check finds it invalid. "Once" is the
// store's compare-and-set (claimNotice), so several wallet processes sweeping the same store
// send one message. A notice is claimed whether or not anyone has a webhook: setting one later
// does not replay old news. A new expiry date or a new secret re-arms the notices (store rule),
// and so does a delivery nobody received that a later try may fix (see remind).
import { forEachLimit } from "@cv-wallet/common/concurrency";
import { providerById } from "../checks/registry.ts";
import type { Actor } from "./audit.ts";
import { keyTarget } from "./audit.ts";
import type { WalletDeps } from "./deps.ts";
import type { KeyNotice, KeyRecord, ValidationRecord, WebhookRecord } from "./ports/store.ts";
import { deliverToWebhook } from "./webhooks.ts";

/** How long before its expiry a key reminds (and the UI's banner counts it). */
export const REMINDER_WINDOW_DAYS = 14;
const DAY_MS = 86_400_000;
/** A key expired longer ago than this is old news: its reminder is claimed without a message. */
export const MAX_EXPIRED_DAYS = 7;
/** Deliveries in flight at once during a sweep (each may wait through its retries). */
const SWEEP_CONCURRENCY = 4;
const PAGE = 200;

const REMINDER_ACTOR: Actor = { type: "system", id: "reminders", name: "key reminders" };

export interface ReminderRun {
  /** Messages delivered, and deliveries that failed after their retries. */
  sent: number;
  failed: number;
  /** Notices claimed with no one to send them to (no webhook set), or left for the next sweep. */
  unsent: number;
}

/** Sends every reminder due at `now` and resolves when their deliveries (and retries) are done. */
export async function sendDueReminders(deps: WalletDeps, now = new Date()): Promise<ReminderRun> {
  const run: ReminderRun = { sent: 0, failed: 0, unsent: 0 };
  const windowEnd = new Date(now.getTime() + REMINDER_WINDOW_DAYS * DAY_MS);
  const seen = new Set<string>();
  for (;;) {
    // Claimed keys drop out of the query; `seen` stops a key another process is still
    // claiming (or a store that fails to record the claim) from looping this sweep.
    const due = (await deps.store.keys.dueForReminder(now, windowEnd, PAGE)).filter((k) => !seen.has(k.id));
    if (due.length === 0) break;
    for (const key of due) seen.add(key.id);
    await forEachLimit(due, SWEEP_CONCURRENCY, async (key) => {
      const expired = key.expiresAt !== undefined && key.expiresAt <= now;
      const notice: KeyNotice = expired ? "expired" : "expiring";
      if (!(await deps.store.keys.claimNotice(key.id, notice, now))) return;
      // A key first seen already expired never sends "expiring" afterwards.
      if (expired) await deps.store.keys.claimNotice(key.id, "expiring", now);
      if (expired && key.expiresAt!.getTime() < now.getTime() - MAX_EXPIRED_DAYS * DAY_MS) {
        run.unsent++;
        return;
      }
      tally(run, await remind(deps, key, notice, now));
    });
  }
  return run;
}

/**
 * After a scheduled check: an invalid key reminds once; one found working again (valid, or
 * only out of quota) re-arms the reminder. Unreachable and rate-limited say nothing either way.
 */
export async function remindAfterCheck(
  deps: WalletDeps,
  key: KeyRecord,
  validation: ValidationRecord,
  now = new Date(),
): Promise<ReminderRun> {
  const run: ReminderRun = { sent: 0, failed: 0, unsent: 0 };
  const status = validation.status;
  if (status === "invalid") {
    if (await deps.store.keys.claimNotice(key.id, "invalid", now)) {
      tally(run, await remind(deps, { ...key, validation }, "invalid", now));
    }
  } else if ((status === "valid" || status === "quota_exceeded") && key.notices?.invalid) {
    await deps.store.keys.releaseNotice(key.id, "invalid");
  }
  return run;
}

type Outcome = "sent" | "failed" | "unsent";

function tally(run: ReminderRun, outcomes: Outcome[]) {
  for (const o of outcomes) run[o]++;
  if (outcomes.length === 0) run.unsent++;
}

/**
 * Sends one key's notice to everyone who should hear of it: the owner of a personal key; the
 * owners and admins of a team key. When nobody got it and a later try may work (a webhook's
 * host did not answer or answered 429/5xx after the sender's own retries, or the crypto service
 * could not open a URL), the notice is released: the next sweep, or the next scheduled check
 * that finds the key invalid, tries again, for as long as the cause lasts (an expiring key
 * until it expires, an expired one for MAX_EXPIRED_DAYS). A 4xx or a refused address is final.
 */
async function remind(deps: WalletDeps, key: KeyRecord, notice: KeyNotice, now: Date): Promise<Outcome[]> {
  const recipients = await webhooksFor(deps, key);
  if (recipients.length === 0) return [];
  const text = await messageFor(deps, key, notice, now);
  const outcomes: Outcome[] = [];
  let laterMayWork = false;
  for (const webhook of recipients) {
    try {
      const delivery = await deliverToWebhook(
        deps,
        webhook,
        notice,
        { text },
        { actor: REMINDER_ACTOR, target: keyTarget(key) },
      );
      outcomes.push(delivery.delivered ? "sent" : "failed");
      laterMayWork ||= delivery.retryable;
    } catch (error) {
      laterMayWork = true;
      deps.logger.warn(
        { keyId: key.id, notice, errorName: error instanceof Error ? error.name : typeof error },
        "a reminder could not be sent; it will be tried again",
      );
    }
  }
  if (laterMayWork && !outcomes.includes("sent")) await deps.store.keys.releaseNotice(key.id, notice);
  return outcomes;
}

async function webhooksFor(deps: WalletDeps, key: KeyRecord): Promise<WebhookRecord[]> {
  const people =
    key.teamId === undefined
      ? [key.userId]
      : (await deps.store.teams.members(key.teamId)).filter((m) => m.role !== "member").map((m) => m.userId);
  const webhooks = await Promise.all(people.map((id) => deps.store.webhooks.get(id)));
  return webhooks.filter((w): w is WebhookRecord => w !== undefined);
}

/** Slack treats <, > and & as markup (links, @channel); a key's name is shown as typed. */
const slackText = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const day = (d: Date) => d.toISOString().slice(0, 10);

/** The message: which key, what happened, when, and a link to it when the wallet knows its public URL. */
async function messageFor(deps: WalletDeps, key: KeyRecord, notice: KeyNotice, now: Date): Promise<string> {
  const provider = providerById(key.provider)?.displayName ?? key.provider;
  const team = key.teamId !== undefined ? await deps.store.teams.get(key.teamId) : undefined;
  const whose = team ? `The team “${slackText(team.name)}”'s` : "Your";
  const subject = `${whose} ${provider} key “${slackText(key.name)}”`;
  let text: string;
  if (notice === "invalid") {
    text = `${subject} is no longer valid: ${slackText(key.validation?.detail ?? "the provider refused it")}. Replace it in the wallet.`;
  } else if (notice === "expired") {
    text = `${subject} expired on ${day(key.expiresAt!)}. Replace it, or delete it if it is no longer used.`;
  } else {
    const days = Math.max(0, Math.ceil((key.expiresAt!.getTime() - now.getTime()) / DAY_MS));
    text = `${subject} expires ${days === 0 ? "today" : `in ${days} day${days === 1 ? "" : "s"}`} (${day(key.expiresAt!)}). Replace it before then.`;
  }
  const link = deps.settings.publicUrl ? ` <${deps.settings.publicUrl}/keys/${key.id}|Open the key>` : "";
  return `cv-wallet: ${text}${link}`;
}
