// A person's reminder webhook: set, shown (host and a hint only), removed, tested, and the one
// way a message reaches it (deliverToWebhook: decrypt, send, note the outcome, audit it). The
// URL is encrypted under the owner's tenant key like a key's secret, because a webhook URL's
// path is itself a credential. Session only: a token must not redirect someone's reminders.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AppError, failedPrecondition, invalidArgument, notFound } from "@cv-wallet/common/errors";
import type {
  DeleteWebhookResponseSchema,
  GetWebhookResponseSchema,
  SetWebhookRequest,
  SetWebhookResponseSchema,
  TestWebhookResponseSchema,
} from "@cv-wallet/proto/wallet/v1";
import { type Actor, auditScope, recordAudit, type Target } from "./audit.ts";
import { requireSession } from "./auth.ts";
import type { Call } from "./context.ts";
import type { WalletDeps } from "./deps.ts";
import { newId } from "./ids.ts";
import { WEBHOOK_FIELD } from "./key-names.ts";
import { consume } from "./limits.ts";
import { webhookDeliveryMessage, webhookMessage } from "./mappers.ts";
import type { WebhookDeliveryRecord, WebhookRecord } from "./ports/store.ts";
import type { WebhookMessage } from "./ports/webhook.ts";

const webhookTarget = (w: Pick<WebhookRecord, "id" | "host">): Target => ({ type: "webhook", id: w.id, name: w.host });

/** "hooks.slack.com/…a1B2": enough to recognise the URL, not to use it. */
function hintOf(url: URL, text: string): string {
  return `${url.hostname}/…${text.slice(-4)}`;
}

export async function getWebhook(
  deps: WalletDeps,
  call: Call,
): Promise<MessageInitShape<typeof GetWebhookResponseSchema>> {
  const p = await requireSession(deps, call, "reading the reminder webhook");
  const webhook = await deps.store.webhooks.get(p.user.id);
  return { webhook: webhook && webhookMessage(webhook) };
}

export async function setWebhook(
  deps: WalletDeps,
  req: SetWebhookRequest,
  call: Call,
): Promise<MessageInitShape<typeof SetWebhookResponseSchema>> {
  const p = await requireSession(deps, call, "setting the reminder webhook");
  // Pasted URLs often carry a trailing newline or space; no URL has them.
  const text = req.url.trim();
  try {
    deps.webhooks.checkUrl(text);
  } catch (error) {
    if (error instanceof AppError && error.code === "invalid_argument") throw invalidArgument(`url: ${error.message}`);
    throw error;
  }
  const url = new URL(text);
  const previous = await deps.store.webhooks.get(p.user.id);
  const now = new Date();
  const id = newId();
  const sealed = await deps.crypto.encrypt(p.user.id, id, WEBHOOK_FIELD, text);
  const webhook: WebhookRecord = {
    id,
    userId: p.user.id,
    ciphertext: sealed.ciphertext,
    keyVersion: sealed.keyVersion,
    host: url.hostname,
    hint: hintOf(url, text),
    createdAt: now,
    updatedAt: now,
  };
  await deps.store.webhooks.put(webhook);
  await recordAudit(auditScope(deps, call, p), "webhook.updated", webhookTarget(webhook), {
    change: previous ? "replaced" : "set",
    host: webhook.host,
  });
  return { webhook: webhookMessage(webhook) };
}

export async function deleteWebhook(
  deps: WalletDeps,
  call: Call,
): Promise<MessageInitShape<typeof DeleteWebhookResponseSchema>> {
  const p = await requireSession(deps, call, "removing the reminder webhook");
  const webhook = await deps.store.webhooks.get(p.user.id);
  if (!webhook || !(await deps.store.webhooks.delete(p.user.id))) throw notFound("no reminder webhook is set");
  await recordAudit(auditScope(deps, call, p), "webhook.updated", webhookTarget(webhook), {
    change: "removed",
    host: webhook.host,
  });
  return {};
}

export async function testWebhook(
  deps: WalletDeps,
  call: Call,
): Promise<MessageInitShape<typeof TestWebhookResponseSchema>> {
  const p = await requireSession(deps, call, "testing the reminder webhook");
  // Each test is a request to a host the user chose: bounded, so the wallet is no one's cannon.
  await consume(deps.limits.webhookTests, p.user.id, "too many webhook tests");
  const webhook = await deps.store.webhooks.get(p.user.id);
  if (!webhook) throw failedPrecondition("no reminder webhook is set; save one first");
  const where = deps.settings.publicUrl ? ` at ${deps.settings.publicUrl}` : "";
  const delivery = await deliverToWebhook(
    deps,
    webhook,
    "test",
    { text: `cv-wallet${where}: a test message. Key reminders for ${p.user.email} will be posted here.` },
    { actor: auditScope(deps, call, p).actor, target: webhookTarget(webhook), attempts: 1, call },
  );
  return { delivery: webhookDeliveryMessage(delivery) };
}

/**
 * Sends one message to a person's webhook and records the outcome: on the webhook (its last
 * delivery), in the owner's audit log (webhook.sent / webhook.failed, with the host and never
 * the path), and in the metrics. Throws only when the URL cannot be decrypted (the crypto
 * service is down): the caller may then try again later.
 */
export async function deliverToWebhook(
  deps: WalletDeps,
  webhook: WebhookRecord,
  event: string,
  message: WebhookMessage,
  how: { actor: Actor; target: Target; attempts?: number; call?: Call | undefined },
): Promise<WebhookDeliveryRecord & { retryable: boolean }> {
  const url = await deps.crypto.decrypt(webhook.userId, webhook.id, WEBHOOK_FIELD, webhook.ciphertext);
  const { retryable, ...result } = await deps.webhooks.deliver(url, message, { attempts: how.attempts });
  const delivery: WebhookDeliveryRecord = { at: new Date(), event, ...result };
  await deps.store.webhooks.recordDelivery(webhook.userId, webhook.id, delivery);
  await recordAudit(
    { deps, call: how.call, userId: webhook.userId, actor: how.actor },
    result.delivered ? "webhook.sent" : "webhook.failed",
    how.target,
    {
      event,
      host: webhook.host,
      attempts: String(result.attempts),
      ...(result.delivered ? {} : { reason: result.detail, retryable: retryable ? "yes" : "no" }),
    },
  );
  deps.onWebhookDelivery?.(event, result.delivered ? "delivered" : "failed");
  return { ...delivery, retryable };
}
