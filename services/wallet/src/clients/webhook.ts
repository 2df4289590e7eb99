// Delivers reminder messages to a person's webhook (Slack-compatible: POST {"text": "…"}).
// The URL comes from a user, so it gets a custom endpoint's address rules (checks/url-safety.ts):
// every delivery resolves the host once, checks every address and connects only to those, so a
// DNS answer that changes later cannot reach the wallet's own network. Redirects are not
// followed, answers are not read beyond a few KiB, and what a delivery reports (detail, logs)
// names the host and the HTTP status, never the URL's path: Slack's path is the secret.
import http from "node:http";
import https from "node:https";
import { AppError } from "@cv-wallet/common/errors";
import type { Logger } from "@cv-wallet/common/logger";
import { describeNetworkError, describeTimeout } from "../checks/network-errors.ts";
import {
  checkBaseUrlForm,
  type HostResolver,
  hostOf,
  pinnedLookup,
  resolveSafeBaseUrl,
  UnresolvedHostError,
} from "../checks/url-safety.ts";
import type { WebhookDelivery, WebhookMessage, WebhookSender } from "../domain/ports/webhook.ts";

export interface WebhookSenderOptions {
  /** WALLET_ALLOW_PRIVATE_BASE_URLS: the same switch as for custom base URLs. */
  allowPrivate: boolean;
  /** Bound on one request (DNS, connect, answer); default 5000. */
  timeoutMs?: number;
  /** The waits before each retry; default 2 s, 10 s, 60 s (four requests at most). */
  retryDelaysMs?: readonly number[];
  logger: Logger;
  /** How host names are resolved (tests); default dns.lookup. */
  resolve?: HostResolver;
}

const USER_AGENT = "cv-wallet-webhook/1";
const MAX_ANSWER_BYTES = 4096;
/** A Retry-After longer than this is not waited for in-process; the next retry comes on the back-off. */
const MAX_RETRY_AFTER_MS = 60_000;

class DnsTimeout extends Error {}

/** One request's outcome: `retry` says whether another attempt could help. */
interface Attempt {
  delivered: boolean;
  detail: string;
  retry: boolean;
  retryAfterMs?: number | undefined;
}

export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const timeoutMs = options.timeoutMs ?? 5000;
  const delays = options.retryDelaysMs ?? [2000, 10_000, 60_000];
  const log = options.logger;
  const safety = { allowPrivate: options.allowPrivate, allowQuery: true };

  async function attempt(url: string, host: string, body: string): Promise<Attempt> {
    let target: Awaited<ReturnType<typeof resolveSafeBaseUrl>>;
    let timer: NodeJS.Timeout | undefined;
    try {
      // DNS counts against the same timeout: a resolver that hangs must not hold a sweep.
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DnsTimeout()), timeoutMs);
      });
      target = await Promise.race([resolveSafeBaseUrl(url, { ...safety, resolve: options.resolve }), timeout]);
    } catch (error) {
      if (error instanceof DnsTimeout)
        return { delivered: false, detail: describeTimeout(timeoutMs, host), retry: true };
      // url-safety speaks of base URLs; here it is the webhook's.
      const detail =
        error instanceof Error ? error.message.replace(/^base URL refused: /, "webhook URL refused: ") : "";
      // A name that does not exist is a mistyped URL more often than a passing DNS fault.
      if (error instanceof UnresolvedHostError)
        return { delivered: false, detail: `host not found: ${host}`, retry: false };
      if (error instanceof AppError && error.code === "invalid_argument")
        return { delivered: false, detail, retry: false };
      return { delivered: false, detail: "could not resolve the webhook's host name", retry: true };
    } finally {
      clearTimeout(timer);
    }
    return post(target.url, host, body, pinnedLookup(target.addresses), timeoutMs);
  }

  return {
    checkUrl(url) {
      checkBaseUrlForm(url, safety);
    },

    async deliver(url: string, message: WebhookMessage, opts?: { attempts?: number }): Promise<WebhookDelivery> {
      const most = Math.max(1, Math.min(opts?.attempts ?? delays.length + 1, delays.length + 1));
      const body = JSON.stringify({ text: message.text });
      let host = "";
      try {
        host = hostOf(new URL(url));
      } catch {
        // A stored URL always parses; a caller passing anything else gets the refusal below.
      }
      let last: Attempt = { delivered: false, detail: "not sent", retry: false };
      let attempts = 0;
      while (attempts < most) {
        if (attempts > 0) {
          const wait = Math.max(delays[attempts - 1] ?? 0, Math.min(last.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
        attempts++;
        const started = performance.now();
        last = await attempt(url, host, body);
        log.info(
          {
            host: host || undefined,
            attempt: attempts,
            delivered: last.delivered,
            outcome: last.detail,
            durationMs: Math.round(performance.now() - started),
          },
          "webhook delivery",
        );
        if (last.delivered || !last.retry) break;
      }
      return { delivered: last.delivered, detail: last.detail, attempts, retryable: !last.delivered && last.retry };
    },
  };
}

/** One POST; never throws. A 2xx delivers; 429, 5xx and network failures may be retried. */
function post(
  url: URL,
  host: string,
  body: string,
  lookup: ReturnType<typeof pinnedLookup>,
  timeoutMs: number,
): Promise<Attempt> {
  const signal = AbortSignal.timeout(timeoutMs);
  return new Promise<Attempt>((resolve) => {
    let settled = false;
    const settle = (a: Attempt) => {
      if (settled) return;
      settled = true;
      resolve(a);
    };
    const request = (url.protocol === "https:" ? https : http).request(url, {
      method: "POST",
      headers: {
        "content-type": "application/json; charset=utf-8",
        "content-length": Buffer.byteLength(body),
        "user-agent": USER_AGENT,
      },
      // A fresh connection to exactly the checked addresses; nothing pooled across people.
      agent: false,
      lookup,
      signal,
    });
    request.on("error", (error) =>
      settle({
        delivered: false,
        detail: signal.aborted ? describeTimeout(timeoutMs, host) : describeNetworkError(error, host),
        retry: true,
      }),
    );
    request.on("response", (response) => {
      const status = response.statusCode ?? 0;
      let read = 0;
      // Drained and dropped: a webhook's answer ("ok", "no_service") is not ours to keep.
      response.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_ANSWER_BYTES) response.destroy();
      });
      response.on("error", () => {});
      response.resume();
      const detail = `HTTP ${status} from ${host}`;
      if (status >= 200 && status < 300) settle({ delivered: true, detail, retry: false });
      else if (status >= 300 && status < 400) {
        settle({ delivered: false, detail: `${detail}: redirected; not followed`, retry: false });
      } else if (status === 429 || status >= 500) {
        settle({ delivered: false, detail, retry: true, retryAfterMs: retryAfterMs(response.headers["retry-after"]) });
      } else settle({ delivered: false, detail, retry: false });
    });
    request.end(body);
  });
}

/** Retry-After in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
function retryAfterMs(header: string | undefined): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
