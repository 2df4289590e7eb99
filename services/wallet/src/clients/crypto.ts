// The wallet's only way to the crypto service (the domain's CryptoPort over gRPC): one long-lived grpc-js channel, a deadline on
// every call, and retries only for idempotent calls (Decrypt, GetKeyInfo, DestroyKey) when
// the service is UNAVAILABLE, by grpc-js's own retry policy. Encrypt is not retried: the caller decides, and nothing is
// written before it succeeds. Failures become AppErrors whose messages hold no secret.
import {
  create,
  createFileRegistry,
  type DescMessage,
  type DescService,
  fromBinary,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { AppError, unavailable } from "@cv-wallet/common/errors";
import { type CallOptions, createClient, type UnaryClient } from "@cv-wallet/common/grpc";
import type { Logger } from "@cv-wallet/common/logger";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import { readImage } from "@cv-wallet/proto/image";
import * as grpc from "@grpc/grpc-js";
import { encryptionContext, tenantKeyName } from "../domain/key-names.ts";
import type { CryptoPort } from "../domain/ports/crypto.ts";

export interface CryptoClientOptions {
  address: string;
  token: string;
  timeoutMs: number;
  tls?: { ca: Buffer; cert?: Buffer | undefined; key?: Buffer | undefined } | undefined;
  logger: Logger;
  /** Called once per finished call, for metrics. */
  onCall?: (method: string, code: string, seconds: number) => void;
}

/** grpc.health.v1.Health from the committed descriptor image (the crypto service serves it). */
const Health = createFileRegistry(fromBinary(FileDescriptorSetSchema, readImage())).getService(
  "grpc.health.v1.Health",
) as DescService;
const SERVING = 1; // grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING

/**
 * grpc-js retries (gRFC A6) the idempotent calls when the crypto service is UNAVAILABLE (a
 * restart, a pod going away), within the call's deadline. Encrypt is left out on purpose.
 */
export const cryptoServiceConfig = {
  methodConfig: [
    {
      name: ["Decrypt", "DecryptBatch", "GetKeyInfo", "DestroyKey"].map((method) => ({
        service: CryptoService.typeName,
        method,
      })),
      retryPolicy: {
        maxAttempts: 3,
        initialBackoff: "0.05s",
        maxBackoff: "0.2s",
        backoffMultiplier: 4,
        retryableStatusCodes: ["UNAVAILABLE"],
      },
    },
  ],
};
/** The crypto service's limit on batch items. */
const MAX_BATCH = 100;
// Unreachable or misconfigured peers: the wallet cannot do its job, so callers see 503.
const UNAVAILABLE_CODES = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.CANCELLED,
]);

/** grpc status as a metric label: the lower-case snake Connect spelling (ok, not_found, unavailable). */
function codeLabel(error: unknown): string {
  const code = isServiceError(error) ? error.code : grpc.status.UNKNOWN;
  // gRPC spells it CANCELLED, Connect "canceled"; every other name matches once lower-cased.
  if (code === grpc.status.CANCELLED) return "canceled";
  return (grpc.status[code] ?? "unknown").toLowerCase();
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "number";
}

export function createCryptoClient(options: CryptoClientOptions): CryptoPort {
  const credentials = options.tls
    ? grpc.credentials.createSsl(options.tls.ca, options.tls.key ?? null, options.tls.cert ?? null)
    : grpc.credentials.createInsecure();
  const channel = new grpc.Client(options.address, credentials, {
    // Reconnect quickly after the crypto service restarts instead of grpc's 2-minute cap.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    // Nothing reads channelz here; its per-call bookkeeping showed in the crypto service's profile.
    "grpc.enable_channelz": 0,
    // Calls rotate over every address the name resolves to: behind a headless Service (one
    // DNS record per crypto pod) they spread over all pods; one address works as before.
    "grpc.service_config": JSON.stringify({ ...cryptoServiceConfig, loadBalancingConfig: [{ round_robin: {} }] }),
  });
  const client: UnaryClient<typeof CryptoService> = createClient(CryptoService, channel);
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${options.token}`);

  async function call<T>(method: string, run: (o: CallOptions) => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await run({ metadata, timeoutMs: options.timeoutMs });
      options.onCall?.(method, "ok", (performance.now() - started) / 1000);
      return result;
    } catch (error) {
      options.onCall?.(method, codeLabel(error), (performance.now() - started) / 1000);
      throw error;
    }
  }

  /** grpc.health.v1 Check of the crypto service: no failing call when all is well. Called on the
   * channel directly: common/grpc createClient takes unary-only services, and Health has Watch. */
  function healthCheck(): Promise<number> {
    const check = Health.method.check!;
    return new Promise((resolve, reject) => {
      channel.makeUnaryRequest(
        `/${Health.typeName}/${check.name}`,
        (m: ReturnType<typeof create<DescMessage>>) => Buffer.from(toBinary(check.input, m)),
        (bytes: Buffer) => fromBinary(check.output, bytes),
        create(check.input, { service: CryptoService.typeName }),
        metadata,
        { deadline: Date.now() + options.timeoutMs },
        (error, response) =>
          error ? reject(error) : resolve(Number((response as unknown as { status?: number }).status ?? 0)),
      );
    });
  }

  function failure(error: unknown, method: string, fallback: () => AppError): AppError {
    const code = isServiceError(error) ? error.code : grpc.status.UNKNOWN;
    if (UNAVAILABLE_CODES.has(code)) {
      // Log the status, not the details: they come from another process and are not ours to trust.
      options.logger.warn({ method, grpcCode: grpc.status[code] }, "crypto service call failed");
      return unavailable("the crypto service is unavailable; try again shortly");
    }
    options.logger.error({ method, grpcCode: grpc.status[code] ?? code }, "crypto service refused a call");
    return fallback();
  }

  // A moved or tampered ciphertext, or a destroyed tenant key: the record is unusable.
  const undecryptable = () => new AppError("failed_precondition", "the stored key cannot be decrypted; store it again");

  // Decrypts that arrive in the same turn of the event loop (concurrent retrievals) travel
  // as one DecryptBatch call: one RPC's overhead instead of many. A lone one goes as Decrypt.
  interface Pending {
    request: { keyName: string; ciphertext: string; context: Uint8Array };
    resolve: (plaintext: string) => void;
    reject: (error: AppError) => void;
  }
  let queue: Pending[] = [];
  let flushScheduled = false;

  async function flush(): Promise<void> {
    flushScheduled = false;
    const batch = queue.slice(0, MAX_BATCH);
    queue = queue.slice(MAX_BATCH);
    if (queue.length > 0 && !flushScheduled) {
      flushScheduled = true;
      setImmediate(() => void flush());
    }
    if (batch.length === 0) return;
    if (batch.length === 1) {
      const [one] = batch as [Pending];
      try {
        const r = await call("Decrypt", (o) => client.decrypt(one.request, o));
        one.resolve(Buffer.from(r.plaintext).toString("utf8"));
      } catch (error) {
        one.reject(failure(error, "Decrypt", undecryptable));
      }
      return;
    }
    try {
      const r = await call("DecryptBatch", (o) => client.decryptBatch({ items: batch.map((p) => p.request) }, o));
      batch.forEach((p, i) => {
        const result = r.results[i]?.result;
        if (result?.case === "ok") p.resolve(Buffer.from(result.value.plaintext).toString("utf8"));
        else p.reject(failure({ code: result?.value?.code ?? grpc.status.INTERNAL }, "Decrypt", undecryptable));
      });
    } catch (error) {
      const e = failure(error, "DecryptBatch", undecryptable);
      for (const p of batch) p.reject(e);
    }
  }

  async function encryptUnder(keyName: string, recordId: string, field: string, plaintext: string) {
    try {
      const r = await call("Encrypt", (o) =>
        client.encrypt({ keyName, plaintext: Buffer.from(plaintext), context: encryptionContext(recordId, field) }, o),
      );
      return { ciphertext: r.ciphertext, keyVersion: r.keyVersion };
    } catch (error) {
      throw failure(error, "Encrypt", () => new AppError("internal", "the key could not be encrypted"));
    }
  }

  function decryptUnder(keyName: string, recordId: string, field: string, ciphertext: string) {
    return new Promise<string>((resolve, reject) => {
      queue.push({ request: { keyName, ciphertext, context: encryptionContext(recordId, field) }, resolve, reject });
      if (queue.length >= MAX_BATCH) void flush();
      else if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(() => void flush());
      }
    });
  }

  async function destroyKey(keyName: string, what: string) {
    try {
      const r = await call("DestroyKey", (o) => client.destroyKey({ keyName }, o));
      return r.versionsDestroyed;
    } catch (error) {
      if (isServiceError(error) && error.code === grpc.status.NOT_FOUND) return 0;
      throw failure(error, "DestroyKey", () => new AppError("internal", `the ${what} key could not be destroyed`));
    }
  }

  return {
    encryptUnder,
    decryptUnder,
    destroyKey: (keyName) => destroyKey(keyName, "team's"),
    encrypt: (userId, recordId, field, plaintext) => encryptUnder(tenantKeyName(userId), recordId, field, plaintext),
    decrypt: (userId, recordId, field, ciphertext) => decryptUnder(tenantKeyName(userId), recordId, field, ciphertext),
    destroyTenant: (userId) => destroyKey(tenantKeyName(userId), "account's"),
    async ping() {
      let status: number;
      try {
        status = await call("Health/Check", healthCheck);
      } catch (error) {
        throw failure(error, "Health/Check", () => unavailable("the crypto service is unavailable"));
      }
      if (status !== SERVING) throw unavailable("the crypto service is not serving yet");
    },
    close() {
      channel.close();
    },
  };
}
