// The Connect edge: cvwallet.wallet.v1.WalletService served with connect-es (Connect and
// gRPC-Web over HTTP/1.1 on the main port; gRPC too on the optional HTTP/2 listener).
// Requests are validated by the protovalidate interceptor (the same rules REST uses) and
// every method calls the shared operation; AppErrors become Connect codes.
import type { Validator } from "@bufbuild/protovalidate";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createContextKey,
  type HandlerContext,
  type Interceptor,
  type ServiceImpl,
} from "@connectrpc/connect";
import { createValidateInterceptor } from "@connectrpc/validate";
import { AppError, type ErrorCode } from "@cv-wallet/common/errors";
import type { Logger } from "@cv-wallet/common/logger";
import { WalletService } from "@cv-wallet/proto/wallet/v1";
import type { Call, RequestInfo } from "../../domain/context.ts";
import type { WalletOps } from "../../domain/operations.ts";
import { credentialsFrom, makeCall, sessionCookie } from "../http/call.ts";
import { clientFactsFrom } from "../http/client-facts.ts";

/** What the adapter learns from the raw request (address, TLS) before the handler runs. */
export interface ConnectRequestFacts {
  address: string;
  secure: boolean;
  /** Host header, or :authority on HTTP/2 (not readable through the Headers object). */
  host?: string | undefined;
}

export const requestFactsKey = createContextKey<ConnectRequestFacts>({ address: "", secure: false });

/** Host or :authority of a raw Node request. */
export function hostOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const h = headers.host ?? headers[":authority"];
  return typeof h === "string" ? h : undefined;
}

const CODES: Record<ErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  unauthenticated: Code.Unauthenticated,
  permission_denied: Code.PermissionDenied,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  resource_exhausted: Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
  internal: Code.Internal,
};

function toConnectError(error: unknown, method: string, logger: Logger): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof AppError) {
    const metadata = new Headers();
    if (error.retryAfterSeconds !== undefined) metadata.set("retry-after", String(error.retryAfterSeconds));
    if (error.code === "internal") logger.error({ err: error, method }, "rpc failed");
    return new ConnectError(error.message, CODES[error.code], metadata);
  }
  logger.error({ err: error, method }, "unexpected error in rpc");
  return new ConnectError("internal error", Code.Internal);
}

function callOf(ctx: HandlerContext, secureCookies: boolean): Call {
  const facts = ctx.values.get(requestFactsKey);
  const h = ctx.requestHeader;
  const info: RequestInfo = {
    address: facts.address,
    userAgent: h.get("user-agent") ?? "",
    origin: h.get("origin") ?? undefined,
    host: facts.host,
    secure: facts.secure,
    // Every Connect call is a POST (no GET-able idempotent methods are declared).
    unsafe: true,
    client: clientFactsFrom((name) => h.get(name)),
  };
  return makeCall(
    info,
    credentialsFrom(h.get("authorization"), h.get("cookie")),
    sessionCookie(secureCookies || facts.secure, (v) => ctx.responseHeader.append("set-cookie", v)),
  );
}

export interface ConnectRoutesOptions {
  ops: WalletOps;
  validator: Validator;
  logger: Logger;
  secureCookies: boolean;
  onCall?: (method: string, code: string, seconds: number) => void;
}

export function walletRoutes(options: ConnectRoutesOptions): (router: ConnectRouter) => void {
  const { ops, logger } = options;
  const impl: Record<string, (req: unknown, ctx: HandlerContext) => Promise<unknown>> = {};
  for (const method of WalletService.methods) {
    const op = ops[method.localName as keyof WalletOps] as (req: unknown, call: Call) => Promise<unknown>;
    impl[method.localName] = async (req, ctx) => {
      try {
        return await op(req, callOf(ctx, options.secureCookies));
      } catch (error) {
        throw toConnectError(error, method.name, logger);
      }
    };
  }
  // Metrics and the access log: method and code only, never headers or messages.
  const observe: Interceptor = (next) => async (req) => {
    const started = performance.now();
    const done = (code: string) => {
      const seconds = (performance.now() - started) / 1000;
      options.onCall?.(req.method.name, code, seconds);
      logger.info({ rpc: req.method.name, code, ms: Math.round(seconds * 1000) }, "rpc");
    };
    try {
      const res = await next(req);
      done("ok");
      return res;
    } catch (error) {
      done(
        error instanceof ConnectError ? Code[error.code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase() : "internal",
      );
      throw error;
    }
  };
  return (router) => {
    router.service(WalletService, impl as unknown as ServiceImpl<typeof WalletService>, {
      interceptors: [observe, createValidateInterceptor({ validator: options.validator })],
    });
  };
}
