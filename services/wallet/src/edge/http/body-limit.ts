// Answers 413 the moment a request body crosses the limit, and stops reading it.
//
// body-parser (through raw-body) notices an oversized body as it happens, but then reads the
// rest of the request to its end before passing the error on: a chunked upload, or one with a
// Content-Length that arrives slowly, was answered only once the client had sent everything.
// Measured on loopback with a 64 KiB limit, a client sending 2 MiB in 64 KiB chunks every
// 50 ms: the 413 came at 1.67 s, after all 2 MiB (chunked or with Content-Length), and an
// upload that never ends was never answered. With this guard: the 413 arrives after the
// chunk that crosses the limit (64–128 KiB read) and the server closes the connection.
import type http from "node:http";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { sendError } from "./errors.ts";

/**
 * Wraps the middleware that reads the body (`express.json`, a router whose first middleware
 * is a body parser). For a chunked body it must be the very next thing to read the body, in
 * the same tick: the byte counter is a `data` listener, which starts the stream flowing, and
 * the parser's own listener has to be attached before the first chunk is emitted (Express
 * runs middleware synchronously, so it is). The counter sees the bytes as sent: a compressed
 * body that only grows past the limit once inflated is still refused by body-parser, after it
 * read the rest (bounded by the server's request timeout, see serve.ts).
 */
export function limitBody(
  limit: number,
  reader: RequestHandler,
  /** Writes the 413; by default the REST error shape. */
  answer: (res: Response) => void = (res) => sendError(res, 413, "resource_exhausted", "the request body is too large"),
): RequestHandler {
  const refuse = (res: Response): void => {
    if (res.headersSent) return;
    // The rest of the body is never read, so the connection cannot carry another request.
    res.setHeader("Connection", "close");
    // Node closes the connection as soon as the answer is written: what the client still
    // sends is not waited for.
    answer(res);
  };
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.headers["transfer-encoding"] === undefined) {
      // A Content-Length over the limit is refused before a byte of the body is read; under
      // it, Node's parser ends the body there.
      return Number(req.headers["content-length"] ?? 0) > limit ? refuse(res) : reader(req, res, next);
    }
    // Chunked: the size shows only as the bytes arrive.
    let received = 0;
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        stop();
        refuse(res);
      }
    };
    const stop = () => {
      req.off("data", count);
      req.off("end", stop);
    };
    req.on("data", count);
    req.once("end", stop);
    reader(req, res, (error?: unknown) => {
      stop();
      // Already answered by the guard: the parser's late error (after the socket closed) is moot.
      if (res.headersSent) return;
      next(error);
    });
  };
}

/**
 * For the Connect adapter, which enforces the limit itself (readMaxBytes) and answers
 * `resource_exhausted` as soon as it is crossed, but then leaves the connection open for
 * another request, so Node reads the rest of the body to find where it ends (measured: a
 * 2 MiB chunked upload was answered after 128 KiB, then read to its end). An answer that
 * starts before the request's body has all arrived means the body was given up on: the
 * connection closes after the answer instead.
 */
export function closeIfBodyUnread(req: http.IncomingMessage, res: http.ServerResponse): void {
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => http.ServerResponse;
  res.writeHead = ((...args: unknown[]) => {
    if (!req.complete) res.setHeader("Connection", "close");
    return writeHead(...args);
  }) as typeof res.writeHead;
}
