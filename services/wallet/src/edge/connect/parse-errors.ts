// connect-es answers a request body that is not valid protobuf binary with `internal` (HTTP
// 500): its binary parser throws Code.Internal before any interceptor runs. A malformed body
// is the client's mistake, so for the Connect protocol's binary requests the held-back 500
// whose message is that parser's ("parse binary: …") is rewritten to invalid_argument (400).
// Everything else passes through untouched.
import type http from "node:http";

const PARSE_FAILURE = /^\{"code":"internal","message":"parse binary:/;
const INVALID = JSON.stringify({
  code: "invalid_argument",
  message: "the request body is not a valid protobuf message for this method",
});

/** Applies the rewrite to `res` when `req` is a Connect-protocol binary request. */
export function rewriteBinaryParseErrors(req: http.IncomingMessage, res: http.ServerResponse): void {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/proto\s*(;|$)/i.test(type)) return;
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => http.ServerResponse;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => http.ServerResponse;
  let held: unknown[] | undefined;
  const chunks: Buffer[] = [];
  const toBuffer = (c: unknown) => (typeof c === "string" ? Buffer.from(c) : Buffer.from(c as Uint8Array));
  res.writeHead = ((...args: unknown[]) => {
    if (args[0] === 500) {
      held = args;
      return res;
    }
    return writeHead(...args);
  }) as typeof res.writeHead;
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (!held) return write(chunk, ...rest);
    chunks.push(toBuffer(chunk));
    const callback = rest.find((x) => typeof x === "function") as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof res.write;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (!held) return end(chunk, ...rest);
    if (chunk !== undefined && typeof chunk !== "function") chunks.push(toBuffer(chunk));
    const body = Buffer.concat(chunks);
    if (PARSE_FAILURE.test(body.toString("utf8", 0, 64))) {
      res.removeHeader("content-length");
      writeHead(400, { "content-type": "application/json", "content-length": Buffer.byteLength(INVALID) });
      return end(INVALID);
    }
    writeHead(...held);
    return end(body);
  }) as typeof res.end;
}
