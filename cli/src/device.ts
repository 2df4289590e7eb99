// The device side of OAuth 2.0 Device Authorization Grant (RFC 8628): ask the wallet for a
// code (POST /oauth/device/code), show it, then poll POST /oauth/token at the interval the
// wallet gave until a person approves or denies it in the browser, or the code expires.
import { isNetworkError, NotFoundError, NotSignedInError, UnreachableError, WalletError } from "./errors.ts";

export const DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";

export interface DeviceAuthorization {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string | undefined;
  /** Seconds the code stays valid. */
  expiresIn: number;
  /** Seconds to wait between polls. */
  interval: number;
}

export interface DeviceToken {
  accessToken: string;
  tokenType: string;
  expiresIn: number | undefined;
  scope: string | undefined;
}

export interface DeviceFlowOptions {
  clientId: string;
  headers: Record<string, string>;
  fetch?: typeof globalThis.fetch | undefined;
}

/** The endpoint answered 404: this wallet does not serve device sign-in. */
export class DeviceFlowNotServedError extends NotFoundError {
  override name = "DeviceFlowNotServedError";
}

/** Denied, expired or unknown code: the person has to start again. */
export class DeviceSignInError extends NotSignedInError {
  override name = "DeviceSignInError";
  readonly error: string;
  constructor(error: string, message: string) {
    super(message);
    this.error = error;
  }
}

interface OAuthErrorBody {
  error?: unknown;
  error_description?: unknown;
}

async function post(
  url: string,
  path: string,
  form: Record<string, string>,
  options: DeviceFlowOptions,
): Promise<{ status: number; body: Record<string, unknown>; retryAfter: string | null }> {
  const doFetch = options.fetch ?? globalThis.fetch;
  let res: Response;
  try {
    res = await doFetch(`${url}${path}`, {
      method: "POST",
      headers: { ...options.headers, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams(form).toString(),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (error) {
    if (isNetworkError(error) || (error as Error).name === "TimeoutError")
      throw new UnreachableError(url, { cause: error });
    throw error;
  }
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = text ? JSON.parse(text) : {};
    if (typeof parsed === "object" && parsed !== null) body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (a proxy's error page): judged by the status alone.
  }
  return { status: res.status, body, retryAfter: res.headers.get("retry-after") };
}

function describe(body: OAuthErrorBody, fallback: string): string {
  const code = typeof body.error === "string" ? body.error : undefined;
  const text = typeof body.error_description === "string" ? body.error_description : undefined;
  if (code && text) return `${code}: ${text}`;
  return code ?? text ?? fallback;
}

export async function requestDeviceCode(
  url: string,
  request: { scope?: string | undefined; providers?: string[] | undefined; name?: string | undefined },
  options: DeviceFlowOptions,
): Promise<DeviceAuthorization> {
  const form: Record<string, string> = { client_id: options.clientId };
  if (request.scope) form.scope = request.scope;
  if (request.providers && request.providers.length > 0) form.providers = request.providers.join(" ");
  if (request.name) form.name = request.name;
  const { status, body } = await post(url, "/oauth/device/code", form, options);
  if (status === 404) throw new DeviceFlowNotServedError(`device sign-in is not served by the wallet at ${url}`);
  if (status !== 200) {
    const kind = status === 429 ? "rate_limited" : status >= 500 ? "unavailable" : "failed";
    throw new WalletError(kind, `the wallet refused to start device sign-in (HTTP ${status}, ${describe(body, "")})`);
  }
  const { device_code, user_code, verification_uri, verification_uri_complete, expires_in, interval } = body;
  if (typeof device_code !== "string" || typeof user_code !== "string" || typeof verification_uri !== "string") {
    throw new WalletError(
      "failed",
      "the wallet's device authorization answer lacks device_code, user_code or verification_uri",
    );
  }
  return {
    deviceCode: device_code,
    userCode: user_code,
    verificationUri: verification_uri,
    verificationUriComplete: typeof verification_uri_complete === "string" ? verification_uri_complete : undefined,
    expiresIn: typeof expires_in === "number" && expires_in > 0 ? expires_in : 600,
    // RFC 8628 §3.2: 5 seconds when the server names no interval.
    interval: typeof interval === "number" && interval > 0 ? interval : 5,
  };
}

export interface PollOptions extends DeviceFlowOptions {
  /** Told each time the wallet says slow_down, with the new interval in seconds. */
  onSlowDown?: ((interval: number) => void) | undefined;
  sleep?: ((ms: number) => Promise<void>) | undefined;
  signal?: AbortSignal | undefined;
}

const MAX_TRANSIENT_FAILURES = 5;

/** Polls until approved (the token), denied or expired (DeviceSignInError). */
export async function pollForToken(url: string, auth: DeviceAuthorization, options: PollOptions): Promise<DeviceToken> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + auth.expiresIn * 1000;
  let interval = auth.interval;
  let failures = 0;
  for (;;) {
    await sleep(interval * 1000);
    options.signal?.throwIfAborted();
    if (Date.now() > deadline) {
      throw new DeviceSignInError(
        "expired_token",
        "the sign-in code expired before it was approved; run cvw login again",
      );
    }
    let reply: Awaited<ReturnType<typeof post>>;
    try {
      reply = await post(
        url,
        "/oauth/token",
        { grant_type: DEVICE_GRANT, device_code: auth.deviceCode, client_id: options.clientId },
        options,
      );
    } catch (error) {
      // A blip while the person is still in the browser should not throw the code away.
      if (error instanceof UnreachableError && ++failures < MAX_TRANSIENT_FAILURES) continue;
      throw error;
    }
    const { status, body } = reply;
    if (status === 200) {
      if (typeof body.access_token !== "string" || body.access_token === "") {
        throw new WalletError("failed", "the wallet approved the sign-in but sent no access_token");
      }
      return {
        accessToken: body.access_token,
        tokenType: typeof body.token_type === "string" ? body.token_type : "Bearer",
        expiresIn: typeof body.expires_in === "number" ? body.expires_in : undefined,
        scope: typeof body.scope === "string" ? body.scope : undefined,
      };
    }
    const error = typeof body.error === "string" ? body.error : undefined;
    switch (error) {
      case "authorization_pending":
        failures = 0;
        continue;
      case "slow_down":
        // RFC 8628 §3.5: this and every later poll waits 5 seconds longer.
        interval += 5;
        options.onSlowDown?.(interval);
        continue;
      case "access_denied":
        throw new DeviceSignInError(error, "the sign-in was denied in the browser");
      case "expired_token":
        throw new DeviceSignInError(error, "the sign-in code expired before it was approved; run cvw login again");
      case "invalid_grant":
        throw new DeviceSignInError(error, "the wallet no longer accepts this sign-in code; run cvw login again");
    }
    if (status === 404) throw new DeviceFlowNotServedError(`device sign-in is not served by the wallet at ${url}`);
    if ((status === 429 || status >= 500) && ++failures < MAX_TRANSIENT_FAILURES) {
      if (status === 429) interval += 5;
      continue;
    }
    throw new WalletError("failed", `the wallet refused the sign-in (HTTP ${status}, ${describe(body, "no detail")})`);
  }
}
