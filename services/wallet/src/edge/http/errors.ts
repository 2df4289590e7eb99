// One mapping from thrown errors to the REST error shape `{ "error": { "code", "message" } }`.
// AppErrors carry a message safe to show; anything else is a 500 with a generic message and
// the detail only in the log. Body-parser errors are translated without their message,
// which can quote the request body (and so a key).
import { AppError, type ErrorCode, httpStatusOf } from "@cv-wallet/common/errors";
import type { Logger } from "@cv-wallet/common/logger";
import type { ErrorRequestHandler, Response } from "express";

export function sendError(res: Response, status: number, code: ErrorCode, message: string): void {
  res.status(status).json({ error: { code, message } });
}

/** Body-parser (and other http-errors) errors carry `type` and `status`. */
function bodyError(error: unknown): { status: number; message: string } | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const type = (error as { type?: unknown }).type;
  switch (type) {
    case "entity.parse.failed":
      return { status: 400, message: "the request body is not valid JSON" };
    case "entity.too.large":
      return { status: 413, message: "the request body is too large" };
    case "encoding.unsupported":
    case "charset.unsupported":
      return { status: 415, message: "the request body's encoding is not supported" };
    case "request.aborted":
      return { status: 400, message: "the request was aborted" };
    case "request.size.invalid":
      return { status: 400, message: "the request body's length does not match Content-Length" };
    case "stream.encoding.set":
    case "stream.not.readable":
      return { status: 400, message: "the request body cannot be read" };
    default:
      break;
  }
  // A path the router cannot percent-decode (%ff%fe) is a URIError from decoding a parameter.
  if (error instanceof URIError) return { status: 400, message: "the request path is not valid percent-encoding" };
  // Any other http-errors client error (4xx, marked safe to expose): its status, our words.
  const status = (error as { status?: unknown; statusCode?: unknown }).status;
  if (typeof status === "number" && status >= 400 && status < 500 && (error as { expose?: unknown }).expose) {
    return { status, message: "the request is not valid" };
  }
  return undefined;
}

export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (error instanceof AppError) {
      if (error.retryAfterSeconds !== undefined) res.setHeader("Retry-After", String(error.retryAfterSeconds));
      if (error.code === "internal") logger.error({ err: error, route: req.path }, "request failed");
      sendError(res, error.httpStatus ?? httpStatusOf(error.code), error.code, error.message);
      return;
    }
    const body = bodyError(error);
    if (body) {
      // The client's mistake, not the service's: no error-level line, no stack.
      logger.debug({ method: req.method, status: body.status }, "bad request");
      sendError(res, body.status, body.status === 413 ? "resource_exhausted" : "invalid_argument", body.message);
      return;
    }
    logger.error({ err: error, method: req.method, route: req.path }, "unexpected error");
    sendError(res, 500, "internal", "internal error");
  };
}
