// The OAuth 2.0 endpoints of device sign-in (RFC 8628): form-encoded requests, answers as
// OAuth JSON (`{"error": …, "error_description": …}`, HTTP 400 for protocol errors), never
// cached. Any OAuth client library speaks to these; the rules live in domain/device.ts.
import { AppError } from "@cv-wallet/common/errors";
import express, { type NextFunction, type Request, type Response, Router } from "express";
import type { RequestInfo } from "../../domain/context.ts";
import type { WalletDeps } from "../../domain/deps.ts";
import { exchangeDeviceCode, OAuthError, startDeviceAuthorization } from "../../domain/device.ts";
import { revokeCurrentToken } from "../../domain/tokens.ts";
import { makeCall } from "../http/call.ts";

export interface OAuthRouterOptions {
  bodyLimitBytes: number;
  requestInfo: (req: Request) => RequestInfo;
}

const FORM = "application/x-www-form-urlencoded";

function send(res: Response, status: number, body: object): void {
  res.status(status).set({ "Cache-Control": "no-store", Pragma: "no-cache" }).json(body);
}

function sendOAuthError(res: Response, status: number, error: string, description: string): void {
  send(res, status, { error, error_description: description });
}

/** RFC 6749 §3.1: parameters are strings sent at most once; an empty one counts as absent. */
function param(req: Request, name: string): string | undefined {
  const value: unknown = (req.body as Record<string, unknown> | undefined)?.[name];
  if (value === undefined || value === "") return undefined;
  if (typeof value !== "string") throw new OAuthError("invalid_request", `${name} must be sent once`);
  return value;
}

function requireForm(req: Request): void {
  if (!req.is(FORM)) throw new OAuthError("invalid_request", `send the parameters as ${FORM}`);
}

/** The origin this request reached us on, for verification_uri when no public URL is set. */
function originOf(req: Request): string {
  return `${req.protocol}://${req.get("host") ?? "localhost"}`;
}

export function oauthRouter(deps: WalletDeps, options: OAuthRouterOptions): Router {
  const router = Router();
  router.use(express.urlencoded({ extended: false, limit: options.bodyLimitBytes, parameterLimit: 20 }));

  router.post("/device/code", async (req, res) => {
    requireForm(req);
    const answer = await startDeviceAuthorization(
      deps,
      {
        clientId: param(req, "client_id"),
        scope: param(req, "scope"),
        providers: param(req, "providers"),
        name: param(req, "name"),
      },
      options.requestInfo(req),
      originOf(req),
    );
    send(res, 200, answer);
  });

  router.post("/token", async (req, res) => {
    requireForm(req);
    // Client credentials in a header are not ours to check (public clients only), but a
    // client that sends them must not be told its request succeeded for another reason.
    if (req.get("authorization")) throw new OAuthError("invalid_client", "this server has only public clients");
    const call = makeCall(options.requestInfo(req), {}, { set: () => {}, clear: () => {} });
    const answer = await exchangeDeviceCode(
      deps,
      { grantType: param(req, "grant_type"), deviceCode: param(req, "device_code"), clientId: param(req, "client_id") },
      call,
    );
    send(res, 200, answer);
  });

  // Token revocation (RFC 7009) of an access token by whoever holds it (`cvw logout`): the
  // same rule as DELETE /api/tokens/current. An unknown, expired or already revoked token
  // answers 200 too (§2.2), so the answer tells nothing about tokens one does not hold.
  router.post("/revoke", async (req, res) => {
    requireForm(req);
    const token = param(req, "token");
    if (!token) throw new OAuthError("invalid_request", "token is required");
    const hint = param(req, "token_type_hint");
    if (hint !== undefined && hint !== "access_token" && hint !== "refresh_token") {
      sendOAuthError(res, 400, "unsupported_token_type", "only access tokens exist here");
      return;
    }
    const call = makeCall(options.requestInfo(req), { bearer: token }, { set: () => {}, clear: () => {} });
    try {
      await revokeCurrentToken(deps, call);
    } catch (error) {
      if (!(error instanceof AppError && ["unauthenticated", "not_found"].includes(error.code))) throw error;
    }
    send(res, 200, {});
  });

  router.all(["/device/code", "/token", "/revoke"], (_req, res) => {
    res.set("Allow", "POST");
    sendOAuthError(res, 405, "invalid_request", "use POST");
  });
  router.use((_req, res) => sendOAuthError(res, 404, "invalid_request", "no such OAuth endpoint"));

  router.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error instanceof OAuthError) {
      // invalid_client is 401 (RFC 6749 §5.2); every other protocol error is 400.
      const status = error.error === "invalid_client" ? 401 : 400;
      if (status === 401) res.set("WWW-Authenticate", 'Basic realm="cv-wallet"');
      sendOAuthError(res, status, error.error, error.message);
      return;
    }
    if (error instanceof AppError) {
      if (error.code === "resource_exhausted") {
        res.set("Retry-After", String(error.retryAfterSeconds ?? 60));
        sendOAuthError(res, 429, "slow_down", "too many requests from this address; try again later");
        return;
      }
      if (error.code === "unavailable") {
        sendOAuthError(res, 503, "temporarily_unavailable", "the wallet cannot reach its store; try again");
        return;
      }
    }
    const type = (error as { type?: unknown } | null)?.type;
    if (type === "entity.too.large")
      return sendOAuthError(res, 413, "invalid_request", "the request body is too large");
    if (typeof type === "string" && type.startsWith("entity.")) {
      return sendOAuthError(res, 400, "invalid_request", "the request body could not be read");
    }
    if (type === "parameters.too.many") return sendOAuthError(res, 400, "invalid_request", "too many parameters");
    deps.logger.error({ err: error, route: req.path }, "oauth request failed");
    sendOAuthError(res, 500, "server_error", "internal error");
  });
  return router;
}
