// The crypto image's HEALTHCHECK: asks the standard gRPC health service
// (grpc.health.v1.Health/Check) and exits 0 only when it answers SERVING.
//
// It speaks gRPC over node:http2 directly (a unary call is one HEADERS frame, one
// length-prefixed message, a response message and the grpc-status trailer), so it needs no
// package at all: it runs from the image's /app/deploy/probes with nothing installed beside it.
// Kubernetes uses its native gRPC probe instead; this is for Docker, compose and podman.
//
//   node deploy/probes/grpc-health.ts [host:port] [--service NAME] [--timeout-ms N]
//                                     [--tls] [--ca FILE] [--cert FILE] [--key FILE]
//
// The address defaults to CRYPTO_GRPC_ADDR (a wildcard host becomes 127.0.0.1), then
// 127.0.0.1:50051. TLS: --tls, or CRYPTO_TLS_CERT_FILE set in the environment (the server's
// own certificate variables), with --ca / CRYPTO_TLS_CA_FILE to verify it.
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { parseArgs } from "node:util";

export const SERVING_STATUS = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"] as const;

export interface GrpcHealthOptions {
  service?: string;
  timeoutMs?: number;
  tls?: { ca?: Buffer | undefined; cert?: Buffer | undefined; key?: Buffer | undefined } | undefined;
}

export interface GrpcHealthResult {
  /** SERVING, NOT_SERVING, … or the failure ("grpc-status 5: unknown service", "ECONNREFUSED"). */
  status: string;
  serving: boolean;
}

/** host:port with a wildcard host replaced by loopback (what a probe inside the container dials). */
export function probeAddress(address: string): string {
  const m = /^(?:\[(.*)\]|([^:]*)):(\d+)$/.exec(address.trim());
  if (!m) throw new Error(`not a host:port address: ${address}`);
  const host = m[1] ?? m[2] ?? "";
  const local = host === "" || host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return `${local.includes(":") ? `[${local}]` : local}:${m[3]}`;
}

/** grpc.health.v1.HealthCheckRequest { string service = 1; } as protobuf bytes. */
export function encodeRequest(service: string): Buffer {
  const name = Buffer.from(service, "utf8");
  const body = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}

/** The `status` field (1, an enum) of a HealthCheckResponse message inside one gRPC frame. */
export function decodeStatus(frame: Buffer): number {
  if (frame.length < 5) throw new Error("short gRPC frame");
  const length = frame.readUInt32BE(1);
  const message = frame.subarray(5, 5 + length);
  let i = 0;
  let status = 0;
  while (i < message.length) {
    const [tag, next] = readVarint(message, i);
    i = next;
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0) {
      const [value, after] = readVarint(message, i);
      i = after;
      if (field === 1) status = value;
    } else if (wire === 2) {
      const [len, after] = readVarint(message, i);
      i = after + len;
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
  }
  return status;
}

export function checkGrpcHealth(address: string, options: GrpcHealthOptions = {}): Promise<GrpcHealthResult> {
  const timeoutMs = options.timeoutMs ?? 3000;
  const authority = `${options.tls ? "https" : "http"}://${probeAddress(address)}`;
  return new Promise((resolve) => {
    let settled = false;
    const done = (status: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.close();
      session.destroy();
      resolve({ status, serving: status === "SERVING" });
    };
    const session = http2.connect(
      authority,
      options.tls ? { ca: options.tls.ca, cert: options.tls.cert, key: options.tls.key } : {},
    );
    const timer = setTimeout(() => done(`no answer within ${timeoutMs} ms`), timeoutMs);
    let sessionError: string | undefined;
    session.on("error", (error: NodeJS.ErrnoException) => {
      sessionError = error.code ?? error.message;
      done(sessionError);
    });
    const stream = session.request({
      ":method": "POST",
      ":path": "/grpc.health.v1.Health/Check",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": `${timeoutMs}m`,
    });
    const chunks: Buffer[] = [];
    let headerStatus: string | undefined;
    stream.on("response", (headers) => {
      // A trailers-only answer carries grpc-status in the headers.
      const s = headers["grpc-status"];
      if (s !== undefined && s !== "0") headerStatus = `grpc-status ${s}: ${headers["grpc-message"] ?? ""}`.trim();
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("trailers", (trailers) => {
      const s = trailers["grpc-status"];
      if (s !== undefined && s !== "0") headerStatus = `grpc-status ${s}: ${trailers["grpc-message"] ?? ""}`.trim();
    });
    // A refused connection also cancels the stream; report the session's cause (ECONNREFUSED).
    stream.on("error", (error: NodeJS.ErrnoException) =>
      setImmediate(() => done(sessionError ?? error.code ?? error.message)),
    );
    stream.on("end", () => {
      if (headerStatus) return done(headerStatus);
      try {
        const code = decodeStatus(Buffer.concat(chunks));
        done(SERVING_STATUS[code] ?? `status ${code}`);
      } catch (error) {
        done(error instanceof Error ? error.message : String(error));
      }
    });
    stream.end(encodeRequest(options.service ?? ""));
  });
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

function readVarint(buf: Buffer, start: number): [number, number] {
  let value = 0;
  let shift = 0;
  let i = start;
  for (;;) {
    if (i >= buf.length) throw new Error("truncated varint");
    const b = buf[i++]!;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, i];
    shift += 7;
  }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      service: { type: "string", default: "" },
      "timeout-ms": { type: "string", default: "3000" },
      tls: { type: "boolean", default: false },
      ca: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
    },
  });
  const env = process.env;
  const address = positionals[0] ?? env.CRYPTO_GRPC_ADDR ?? "127.0.0.1:50051";
  const ca = values.ca ?? env.CRYPTO_TLS_CA_FILE;
  const useTls = values.tls || Boolean(env.CRYPTO_TLS_CERT_FILE) || values.ca !== undefined;
  const read = (file: string | undefined) => (file ? readFileSync(file) : undefined);
  const result = await checkGrpcHealth(address, {
    service: values.service,
    timeoutMs: Number(values["timeout-ms"]),
    tls: useTls ? { ca: read(ca), cert: read(values.cert), key: read(values.key) } : undefined,
  });
  console.log(`grpc health ${probeAddress(address)}${values.service ? ` (${values.service})` : ""}: ${result.status}`);
  process.exit(result.serving ? 0 : 1);
}
