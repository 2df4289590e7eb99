// What the domain needs to call a person's reminder webhook. clients/webhook.ts implements it
// over HTTP with the same address rules as a custom endpoint; tests may pass any object with
// this shape.

/** A Slack-compatible message: incoming webhooks of Slack, Mattermost, Rocket.Chat, Discord's /slack. */
export interface WebhookMessage {
  text: string;
}

export interface WebhookDelivery {
  delivered: boolean;
  /** Short, fixed text with the host and HTTP status only: never the URL's path or the answer's body. */
  detail: string;
  /** Requests made, retries included. */
  attempts: number;
  /**
   * Not delivered, but a later try could be (no answer, 429, 5xx, a DNS failure): reminders
   * are then left for the next sweep. A 4xx, a redirect or a refused address will not change.
   */
  retryable: boolean;
}

export interface WebhookSender {
  /**
   * Throws invalid_argument for a URL the wallet must never call, judged by its form only (the
   * addresses are checked, and pinned, on every delivery).
   */
  checkUrl(url: string): void;
  /**
   * POSTs the message as JSON. Transient failures (no answer, 429, 5xx) are retried with
   * back-off up to `attempts` requests in all (the sender's default when unset). Never throws.
   */
  deliver(url: string, message: WebhookMessage, options?: { attempts?: number }): Promise<WebhookDelivery>;
}
