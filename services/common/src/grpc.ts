// The grpc-js adapter for protobuf-es v2 services. grpc-js takes any serialize/deserialize
// pair, so the service definition is derived from the generated DescService instead of
// being written by hand or loaded from .proto files at run time.
//
// Server side, requests arrive as raw bytes and are decoded inside the handler: a decode
// failure thrown from a grpc-js deserializer would surface as INTERNAL, but malformed input
// is the caller's fault and must be INVALID_ARGUMENT. Every handler is wrapped so a thrown
// AppError becomes its status and anything else becomes INTERNAL with a generic message.
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescMethodUnary,
  type DescService,
  fromBinary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { createValidator, type Validator } from "@bufbuild/protovalidate";
import * as grpc from "@grpc/grpc-js";
import { AppError, type ErrorCode, invalidArgument } from "./errors.ts";
import type { Logger } from "./logger.ts";
import { assertValid } from "./validate.ts";

// Kept importable from here for callers written before it moved to validate.ts.
export { assertValid } from "./validate.ts";

const GRPC_STATUS: Record<ErrorCode, grpc.status> = {
  invalid_argument: grpc.status.INVALID_ARGUMENT,
  unauthenticated: grpc.status.UNAUTHENTICATED,
  permission_denied: grpc.status.PERMISSION_DENIED,
  not_found: grpc.status.NOT_FOUND,
  already_exists: grpc.status.ALREADY_EXISTS,
  failed_precondition: grpc.status.FAILED_PRECONDITION,
  resource_exhausted: grpc.status.RESOURCE_EXHAUSTED,
  unavailable: grpc.status.UNAVAILABLE,
  deadline_exceeded: grpc.status.DEADLINE_EXCEEDED,
  internal: grpc.status.INTERNAL,
};

/** The gRPC status an AppError code is sent as. */
export function grpcStatusOf(code: ErrorCode): grpc.status {
  return GRPC_STATUS[code];
}

// Index = gRPC status number; the names are Connect's code names, the one spelling metrics use.
const CODE_NAMES = [
  "ok",
  "canceled",
  "unknown",
  "invalid_argument",
  "deadline_exceeded",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "aborted",
  "out_of_range",
  "unimplemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
] as const;

/** A gRPC status number as a lower-case snake code name (`ok`, `not_found`, …), for metric labels. */
export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? "unknown";
}

/** What a handler knows about the call beyond its request. */
export interface CallContext {
  /** "cvwallet.crypto.v1.CryptoService/Encrypt" style name, for logs and metrics. */
  readonly method: string;
  readonly metadata: grpc.Metadata;
  readonly peer: string;
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** The verified client certificate's subject when mTLS is on. */
  readonly peerCertificate: unknown;
}

type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  call: CallContext,
) => Promise<MessageInitShape<O>>;

/** The implementation of every unary method of service S, keyed by its localName. */
export type UnaryServiceImpl<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends DescMethodUnary<infer I, infer O> ? UnaryHandler<I, O> : never;
};

export interface ServeOptions {
  logger: Logger;
  /** Runs before the handler; throw an AppError (unauthenticated, …) to refuse the call. */
  authorize?: (call: CallContext, method: DescMethod) => void;
  /** Called once per finished call, for metrics. */
  onCallEnd?: (method: string, code: grpc.status, seconds: number) => void;
  /** Validate requests against their protovalidate rules (default true). */
  validate?: boolean;
}

/** The grpc-js path of a method: "/package.Service/Method". */
export function grpcPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** Adds `service` to `server`, every method wrapped with decoding, validation, auth and error mapping. */
export function addService<S extends DescService>(
  server: grpc.Server,
  service: S,
  impl: UnaryServiceImpl<S>,
  options: ServeOptions,
): void {
  const validator = options.validate === false ? undefined : createValidator();
  const definition: Record<string, grpc.MethodDefinition<Buffer, MessageShape<DescMessage>>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    assertUnary(method);
    definition[method.localName] = {
      path: grpcPath(method),
      requestStream: false,
      responseStream: false,
      // Identity: the handler decodes, so malformed bytes become INVALID_ARGUMENT.
      requestSerialize: (bytes: Buffer) => bytes,
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (message: MessageShape<DescMessage>) => asBuffer(toBinary(method.output, message)),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
    };
    const handler = (impl as Record<string, UnaryHandler<DescMessage, DescMessage>>)[method.localName];
    if (!handler) throw new Error(`no handler for ${grpcPath(method)}`);
    handlers[method.localName] = wrapUnary(method, handler, validator, options);
  }
  server.addService(definition, handlers);
}

function wrapUnary(
  method: DescMethod,
  handler: UnaryHandler<DescMessage, DescMessage>,
  validator: Validator | undefined,
  options: ServeOptions,
): grpc.handleUnaryCall<Buffer, MessageShape<DescMessage>> {
  const name = `${method.parent.typeName}/${method.name}`;
  return (call, callback) => {
    const started = performance.now();
    // grpc-js emits "cancelled" after every call, also once the status is sent; only a
    // cancellation before that is one (and building an error per call costs a stack trace).
    let settled = false;
    let cancelled = false;
    let abort: AbortController | undefined;
    call.on("cancelled", () => {
      if (settled) return;
      cancelled = true;
      abort?.abort(new AppError("deadline_exceeded", "call cancelled"));
    });
    // Peer, certificate and signal are built only when a handler asks for them: most calls
    // never do, and each costs an allocation (or a TLS lookup) per call.
    const context: CallContext = {
      method: name,
      metadata: call.metadata,
      get peer() {
        return call.getPeer();
      },
      get signal() {
        if (!abort) {
          abort = new AbortController();
          if (cancelled) abort.abort(new AppError("deadline_exceeded", "call cancelled"));
        }
        return abort.signal;
      },
      get peerCertificate() {
        return call.getAuthContext()?.sslPeerCertificate;
      },
    };
    const finish = (code: grpc.status) => options.onCallEnd?.(name, code, (performance.now() - started) / 1000);

    run(method, handler, validator, options, call.request, context).then(
      (response) => {
        settled = true;
        finish(grpc.status.OK);
        callback(null, response);
      },
      (error: unknown) => {
        settled = true;
        const { code, message } = toStatus(error, name, options.logger);
        finish(code);
        callback({ code, details: message, metadata: retryMetadata(error) });
      },
    );
  };
}

async function run(
  method: DescMethod,
  handler: UnaryHandler<DescMessage, DescMessage>,
  validator: Validator | undefined,
  options: ServeOptions,
  bytes: Buffer,
  context: CallContext,
): Promise<MessageShape<DescMessage>> {
  options.authorize?.(context, method);
  let request: MessageShape<DescMessage>;
  try {
    request = fromBinary(method.input, bytes);
  } catch {
    throw invalidArgument(`request is not a valid ${method.input.typeName}`);
  }
  if (validator) assertValid(validator, method.input, request);
  const response = await handler(request, context);
  return isMessage(response, method.output) ? response : create(method.output, response);
}

/** A Buffer over the same memory (Buffer.from(Uint8Array) would copy every message). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toStatus(error: unknown, method: string, logger: Logger): { code: grpc.status; message: string } {
  if (error instanceof AppError) {
    return { code: grpcStatusOf(error.code), message: error.message };
  }
  // Unknown failures are logged with their stack but reach the caller as a generic message.
  logger.error({ err: error, method }, "unexpected error in gRPC handler");
  return { code: grpc.status.INTERNAL, message: "internal error" };
}

function retryMetadata(error: unknown): grpc.Metadata | undefined {
  if (!(error instanceof AppError) || error.retryAfterSeconds === undefined) return undefined;
  const metadata = new grpc.Metadata();
  metadata.set("retry-after", String(error.retryAfterSeconds));
  return metadata;
}

function assertUnary(method: DescMethod): asserts method is DescMethodUnary {
  if (method.methodKind !== "unary") {
    throw new Error(`${grpcPath(method)} is ${method.methodKind}; only unary methods are supported`);
  }
}

export interface CallOptions {
  /** Milliseconds from now; every call should have one. */
  timeoutMs?: number;
  metadata?: grpc.Metadata;
  signal?: AbortSignal;
}

/** A promise-returning client for every unary method of service S. */
export type UnaryClient<S extends DescService> = {
  [K in keyof S["method"]]: S["method"][K] extends DescMethodUnary<infer I, infer O>
    ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
    : never;
};

/**
 * Wraps a grpc-js channel (`new grpc.Client(address, credentials, options)`) as a typed client.
 * Rejections are grpc-js ServiceErrors (with `code` and `details`); policy such as retries
 * belongs to the caller, which knows which of its calls are idempotent.
 */
export function createClient<S extends DescService>(service: S, channel: grpc.Client): UnaryClient<S> {
  const client: Record<string, unknown> = {};
  for (const method of service.methods) {
    assertUnary(method);
    const path = grpcPath(method);
    client[method.localName] = (request: MessageInitShape<DescMessage>, options: CallOptions = {}) =>
      new Promise<MessageShape<DescMessage>>((resolve, reject) => {
        const call = channel.makeUnaryRequest(
          path,
          (message: MessageInitShape<DescMessage>) =>
            asBuffer(
              toBinary(method.input, isMessage(message, method.input) ? message : create(method.input, message)),
            ),
          (bytes: Buffer) => fromBinary(method.output, bytes),
          request,
          options.metadata ?? new grpc.Metadata(),
          options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs },
          (error, response) => (error ? reject(error) : resolve(response as MessageShape<DescMessage>)),
        );
        options.signal?.addEventListener("abort", () => call.cancel(), { once: true });
      });
  }
  return client as UnaryClient<S>;
}
