// One generic key checker driven by the registry's check table: it sends the provider's
// cheapest authenticated read (no tokens spent) and maps the answer to a validation status.
//
// Safety rules, all enforced here:
// - the key goes only in the provider's own auth header, only to the provider's base URL (the
//   operator's override if set) or, for custom, the record's base URL after the SSRF checks of
//   url-safety.ts — resolved once, every address checked, and the connection pinned to them;
// - redirects are never followed (node:http does not follow; a 3xx is reported, not chased);
// - the whole check (DNS, connect, answer) is bounded by a timeout (5 s by default);
// - provider response bodies are read (at most 64 KiB) only to classify them, never logged;
// - the key never reaches a log line, a detail or an error: details are built from fixed text,
//   the host, the HTTP status and error codes the registry lists, and scrubbed once more.
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { AppError } from "@cv-wallet/common/errors";
import type { Logger } from "@cv-wallet/common/logger";
import type { CheckResult, KeyChecker, ProviderCredits, ValidationStatus } from "../domain/ports/key-check.ts";
import { describeNetworkError, describeTimeout } from "./network-errors.ts";
import { type ProviderCheck, type ProviderInfo, providerById } from "./registry.ts";
import { type HostResolver, pinnedLookup, resolveSafeBaseUrl, UnresolvedHostError } from "./url-safety.ts";

export type { CheckResult, KeyChecker, ProviderCredits, ValidationStatus } from "../domain/ports/key-check.ts";
export { VALIDATION_STATUSES } from "../domain/ports/key-check.ts";

export { baseUrlVariable, loadProviderConfig, type ProviderConfig, providerConfigShape } from "./config.ts";

export interface KeyCheckerOptions {
  /** Provider id → operator base URL (WALLET_PROVIDER_<ID>_BASE_URL); trusted, may be loopback http. */
  baseUrlOverrides: Record<string, string>;
  /** WALLET_ALLOW_PRIVATE_BASE_URLS: custom base URLs may point into private networks. */
  allowPrivateBaseUrls: boolean;
  /** Bound on the whole check; default 5000. */
  timeoutMs?: number;
  logger: Logger;
  /** How custom base URL host names are resolved (tests); default dns.lookup. */
  resolve?: HostResolver;
}

const MAX_BODY_BYTES = 64 * 1024;
const USER_AGENT = "cv-wallet-key-check/1";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Thrown inside the checker; its message is safe to show (never holds the key). */
class CheckFailure extends Error {
  readonly status: ValidationStatus;
  constructor(status: ValidationStatus, detail: string) {
    super(detail);
    this.status = status;
  }
}

export function createKeyChecker(options: KeyCheckerOptions): KeyChecker {
  const timeoutMs = options.timeoutMs ?? 5000;
  const log = options.logger;
  const overrides = new Map(Object.entries(options.baseUrlOverrides).map(([id, url]) => [id, url.replace(/\/+$/, "")]));

  async function target(
    provider: ProviderInfo,
    baseUrl: string | undefined,
  ): Promise<{ url: URL; lookup?: LookupFunction }> {
    const path = provider.check.path;
    if (provider.id !== "custom") {
      const base = overrides.get(provider.id) ?? provider.defaultBaseUrl;
      return { url: new URL(`${base}${path}`) };
    }
    if (!baseUrl) throw new CheckFailure("unverified", "no base URL set for this custom key");
    try {
      const { url, addresses } = await resolveSafeBaseUrl(baseUrl, {
        allowPrivate: options.allowPrivateBaseUrls,
        resolve: options.resolve,
      });
      return { url: new URL(`${url.href.replace(/\/+$/, "")}${path}`), lookup: pinnedLookup(addresses) };
    } catch (error) {
      // A name that does not resolve cannot be reached; a refused address is not tried at all.
      if (error instanceof UnresolvedHostError) throw new CheckFailure("unreachable", error.message);
      if (error instanceof AppError && error.code === "invalid_argument") {
        throw new CheckFailure("unverified", error.message);
      }
      throw new CheckFailure("unreachable", "could not resolve the base URL's host name");
    }
  }

  async function check(providerId: string, key: string, baseUrl?: string): Promise<CheckResult> {
    const started = performance.now();
    const provider = providerById(providerId);
    let host = "";
    let httpStatus: number | undefined;
    let result: Omit<CheckResult, "checkedAt">;
    try {
      if (!provider) throw new CheckFailure("unverified", "unknown provider; it cannot be checked");
      if (key.length === 0) throw new CheckFailure("invalid", "the key is empty");
      // A header value must be visible ASCII; anything else could not be sent as the provider expects.
      if (!/^[\x21-\x7e]+$/.test(key)) {
        throw new CheckFailure("invalid", "the key contains characters that cannot be sent in an HTTP header");
      }
      const signal = AbortSignal.timeout(timeoutMs);
      const { url, lookup } = await raceSignal(target(provider, baseUrl), signal, timeoutMs);
      host = url.host;
      const answer = await send(url, provider.check, key, lookup, signal, timeoutMs);
      httpStatus = answer.status;
      result = interpret(provider, answer, host);
    } catch (error) {
      result =
        error instanceof CheckFailure
          ? { status: error.status, detail: error.message }
          : { status: "unreachable", detail: "the check failed unexpectedly" };
      if (!(error instanceof CheckFailure))
        log.error({ provider: provider?.id ?? "unknown", errorName: nameOf(error) }, "key check crashed");
    }
    const detail = scrub(result.detail, key);
    if (result.credits) result.credits.label = scrub(result.credits.label, key);
    log.info(
      {
        // Only a known id: the caller's string is not ours to vouch for.
        provider: provider?.id ?? "unknown",
        host: host || undefined,
        httpStatus,
        status: result.status,
        durationMs: Math.round(performance.now() - started),
      },
      "provider key check",
    );
    return { ...result, detail, checkedAt: new Date() };
  }

  return { check };
}

/** Sends the check request: the key only in the provider's auth header; no redirects followed. */
function send(
  url: URL,
  check: ProviderCheck,
  key: string,
  lookup: LookupFunction | undefined,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<Answer> {
  const headers: Record<string, string> = {
    accept: "application/json",
    "user-agent": USER_AGENT,
    ...check.headers,
  };
  if (check.auth.kind === "bearer") headers.authorization = `Bearer ${key}`;
  else headers[check.auth.header.toLowerCase()] = key;
  if (check.method === "POST") headers["content-length"] = "0";
  const isHttps = url.protocol === "https:";
  if (!isHttps && url.protocol !== "http:") {
    return Promise.reject(new CheckFailure("unverified", "the base URL is not http(s)"));
  }
  const where = url.host;
  return new Promise<Answer>((resolve, reject) => {
    const request = (isHttps ? https : http).request(url, {
      method: check.method,
      headers,
      // A fresh connection for each check: no pooled socket is shared between hosts or keys.
      agent: false,
      ...(lookup ? { lookup } : {}),
      signal,
    });
    request.on("error", (error) => reject(networkFailure(error, signal, where, timeoutMs)));
    request.on("response", (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        if (size >= MAX_BODY_BYTES) return;
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_BODY_BYTES) {
          // Enough to classify; stop reading (the rest is never needed).
          finish();
          response.destroy();
        }
      });
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString("utf8"),
        });
      };
      response.on("end", finish);
      response.on("error", (error) => {
        if (!done) reject(networkFailure(error, signal, where, timeoutMs));
      });
      response.on("aborted", () => {
        if (!done) reject(networkFailure(new Error("aborted"), signal, where, timeoutMs));
      });
    });
    request.end();
  });
}

async function raceSignal<T>(promise: Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T> {
  if (signal.aborted) throw timedOut(timeoutMs, undefined);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(timedOut(timeoutMs, undefined));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

function timedOut(timeoutMs: number, host: string | undefined): CheckFailure {
  return new CheckFailure("unreachable", describeTimeout(timeoutMs, host));
}

/** Maps a socket or HTTP error to "unreachable" with a short fixed text (never the error's own message). */
function networkFailure(error: unknown, signal: AbortSignal, host: string, timeoutMs: number): CheckFailure {
  if (signal.aborted) return timedOut(timeoutMs, host);
  return new CheckFailure("unreachable", describeNetworkError(error, host));
}

function nameOf(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** Error codes a provider's error body carries, lowercase (never messages). */
function errorCodes(body: unknown): string[] {
  const codes: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === "string" && v.length > 0 && v.length <= 100) codes.push(v.toLowerCase());
    if (typeof v === "number") codes.push(String(v));
  };
  if (!isObject(body)) return codes;
  add(body.code);
  add(body.type === "error" ? undefined : body.type);
  const error = body.error;
  if (isObject(error)) {
    add(error.code);
    add(error.type);
    add(error.status);
    if (Array.isArray(error.details)) for (const d of error.details) if (isObject(d)) add(d.reason);
  } else {
    add(error);
  }
  return codes;
}

/** Error messages of a body, only to match registry patterns; never stored or logged. */
function errorMessages(body: unknown): string[] {
  if (!isObject(body)) return [];
  const out: string[] = [];
  for (const v of [body.message, body.detail, isObject(body.error) ? body.error.message : body.error]) {
    if (typeof v === "string") out.push(v);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Retry-After (seconds or HTTP date); else Google's RetryInfo.retryDelay ("30s") in the body. */
function retryAfterOf(headers: http.IncomingHttpHeaders, body: unknown): number | undefined {
  const header = headers["retry-after"];
  if (typeof header === "string" && header.trim() !== "") {
    const text = header.trim();
    if (/^\d+(\.\d+)?$/.test(text)) return Math.ceil(Number(text));
    const at = Date.parse(text);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - Date.now()) / 1000));
  }
  if (isObject(body) && isObject(body.error) && Array.isArray(body.error.details)) {
    for (const d of body.error.details) {
      if (isObject(d) && typeof d.retryDelay === "string") {
        const m = /^(\d+(?:\.\d+)?)s$/.exec(d.retryDelay);
        if (m) return Math.ceil(Number(m[1]));
      }
    }
  }
  return undefined;
}

/** Maps the provider's answer to a status. The body is only inspected, never copied into the result. */
function interpret(provider: ProviderInfo, answer: Answer, host: string): Omit<CheckResult, "checkedAt"> {
  const { status } = answer;
  const check = provider.check;
  const from = `HTTP ${status} from ${host}`;
  const body = parseJson(answer.body);
  const codes = errorCodes(body);
  const quotaCode = codes.find((c) => check.quotaCodes.includes(c));
  const quotaMessage = errorMessages(body).some((m) => check.quotaMessages?.some((re) => re.test(m)));
  const invalidCode = codes.find((c) => check.invalidKeyCodes.includes(c));

  if (status >= 200 && status < 300) return interpretSuccess(provider, body, from, host);
  if (status >= 300 && status < 400) {
    const location = answer.headers.location;
    let elsewhere = true;
    try {
      elsewhere = typeof location !== "string" || new URL(location, `http://${host}`).host !== host;
    } catch {}
    return {
      status: "unreachable",
      detail: `${from}: redirected${elsewhere ? " to another host" : ""}; not followed`,
    };
  }
  // A provider outage never marks a key invalid, whatever the body says.
  if (status >= 500) return { status: "unreachable", detail: from };
  if (status === 402 || quotaCode || quotaMessage) {
    return { status: "quota_exceeded", detail: `${from}${quotaCode ? ` (${quotaCode})` : ": out of credit or quota"}` };
  }
  if (status === 429) {
    const retryAfterSeconds = retryAfterOf(answer.headers, body);
    return {
      status: "rate_limited",
      detail: `${from}${retryAfterSeconds === undefined ? "" : `; retry after ${retryAfterSeconds} s`}`,
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    };
  }
  if (status === 401 || status === 403 || invalidCode) {
    return { status: "invalid", detail: `${from}${invalidCode ? ` (${invalidCode})` : ""}` };
  }
  // 400, 404, …: the check itself was not accepted (wrong base URL or path); the key is not judged.
  return { status: "unverified", detail: `${from}; the check could not be completed` };
}

function interpretSuccess(
  provider: ProviderInfo,
  body: unknown,
  from: string,
  host: string,
): Omit<CheckResult, "checkedAt"> {
  if (!isObject(body)) return { status: "unverified", detail: `${from}, but the answer is not the expected JSON` };
  switch (provider.check.response) {
    case "listing":
      return { status: "valid", detail: from };
    case "cohere-valid":
      if (body.valid === true) return { status: "valid", detail: from };
      if (body.valid === false) return { status: "invalid", detail: `${host} reports the key is not valid` };
      return { status: "unverified", detail: `${from}, but the answer has no "valid" field` };
    case "openrouter-key": {
      const data = isObject(body.data) ? body.data : undefined;
      if (!data) return { status: "unverified", detail: `${from}, but the answer has no key data` };
      const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
      const credits: ProviderCredits = {
        label: typeof data.label === "string" ? data.label.slice(0, 200) : "",
        usage: num(data.usage) ?? 0,
        isFreeTier: data.is_free_tier === true,
      };
      const limit = num(data.limit);
      const remaining = num(data.limit_remaining) ?? (limit === undefined ? undefined : limit - credits.usage);
      if (limit !== undefined) credits.limit = limit;
      if (remaining !== undefined) credits.limitRemaining = remaining;
      if (remaining === undefined) {
        return { status: "valid", detail: `no credit limit; used ${credits.usage.toFixed(2)}`, credits };
      }
      return {
        status: remaining <= 0 ? "quota_exceeded" : "valid",
        detail: `credits left: ${remaining.toFixed(2)}`,
        credits,
      };
    }
  }
}

/** Removes the key (and any long piece of it) from a text, in case a provider or URL echoed it. */
function scrub(text: string, key: string): string {
  if (key.length < 6) return text; // not a real key; replacing it would only mangle the text
  let out = text.split(key).join("[redacted]");
  // Any 16-character run of the key also counts as the key (a provider's masked label such as
  // "sk-or-v1-0e6...1c96" keeps fewer than that).
  const window = 16;
  for (let i = 0; i + window <= key.length; i++) {
    const piece = key.slice(i, i + window);
    if (out.includes(piece)) out = out.split(piece).join("[redacted]");
  }
  return out;
}
