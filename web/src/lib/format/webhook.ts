// The reminder webhook as people read it: what a delivery was about, how it went, and what to
// check before the URL goes to the wallet (the wallet's own rules decide the rest).
import type { WebhookDelivery } from "@cv-wallet/proto/wallet/v1";

/** What the wallet sent, by the contract's event names. */
export const DELIVERY_EVENTS: Readonly<Record<string, string>> = {
  test: "Test message",
  expiring: "Expiry reminder",
  expired: "Key expired",
  invalid: "Key found invalid",
};

export function deliveryEvent(event: string): string {
  return DELIVERY_EVENTS[event] ?? (event ? event.charAt(0).toUpperCase() + event.slice(1) : "Message");
}

export function attemptsText(attempts: number): string {
  return `${attempts} attempt${attempts === 1 ? "" : "s"}`;
}

type Delivery = Pick<WebhookDelivery, "delivered" | "event" | "detail" | "attempts">;

/**
 * One line for a delivery, without its time: "Test message delivered: HTTP 200 from
 * hooks.slack.com (1 attempt)." or "Expiry reminder not delivered: HTTP 500 from … (3 attempts)."
 */
export function deliveryLine(d: Delivery): string {
  return `${deliveryEvent(d.event)} ${d.delivered ? "delivered" : "not delivered"}${reasonAndTries(d)}.`;
}

/**
 * The same without the outcome, for beside a badge that shows it: "Expiry reminder: HTTP 200
 * from hooks.slack.com (1 attempt)".
 */
export function deliveryFacts(d: Delivery): string {
  return `${deliveryEvent(d.event)}${reasonAndTries(d)}`;
}

function reasonAndTries(d: Delivery): string {
  const detail = d.detail.trim().replace(/[.\s]+$/, "");
  const tries = d.attempts > 0 ? ` (${attemptsText(d.attempts)})` : "";
  return `${detail ? `: ${detail}` : ""}${tries}`;
}

/** A wait from Retry-After seconds: "40 seconds", "3 minutes", "2 hours". */
export function waitText(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 90) return `${s} second${s === 1 ? "" : "s"}`;
  if (s < 90 * 60) return `${Math.ceil(s / 60)} minutes`;
  return `${Math.ceil(s / 3600)} hours`;
}

/**
 * What is wrong with a typed URL before it is sent, or undefined. Only what the browser can
 * tell for sure: empty, not a URL, or spaces in it. Schemes and addresses are the wallet's call,
 * so its message (which names the operator setting) is the one people see.
 */
export function webhookUrlProblem(value: string): string | undefined {
  const url = value.trim();
  if (!url) return "Enter the webhook's URL, e.g. https://hooks.slack.com/services/…";
  if (/\s/.test(url)) return "The URL has a space or line break in it: paste it again.";
  if (!URL.canParse(url)) return "That is not a URL: paste the whole address, starting with https://.";
  return undefined;
}
