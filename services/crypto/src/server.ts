// Builds and starts the crypto service: store → key provider → keyring → grpc-js server with
// auth, health and reflection. `startCryptoServer` is what main.ts calls and what other
// workspaces' tests call to run a real crypto service in-process on an ephemeral port.
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { join } from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { AppError } from "@cv-wallet/common/errors";
import { addService } from "@cv-wallet/common/grpc";
import { createLogger, type Logger } from "@cv-wallet/common/logger";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import { readImage } from "@cv-wallet/proto/image";
import * as grpc from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { authorizer } from "./auth.ts";
import { type CryptoConfig, DEFAULTS } from "./config.ts";
import { DekCache } from "./keyring/dek-cache.ts";
import { Keyring } from "./keyring/keyring.ts";
import { AwsKmsKeyProvider } from "./kms/aws.ts";
import { instrument } from "./kms/instrumented.ts";
import { LocalKeyProvider } from "./kms/local.ts";
import type { KeyProvider } from "./kms/provider.ts";
import { CryptoMetrics } from "./metrics.ts";
import { cryptoServiceImpl } from "./rpc/crypto-service.ts";
import type { KeyStore } from "./store/port.ts";
import { SqliteKeyStore } from "./store/sqlite.ts";

export type { CryptoConfig } from "./config.ts";
export { loadCryptoConfig } from "./config.ts";

/** CryptoConfig with defaults: `dataDir` and a credential (token or mTLS) are all a caller must give. */
export type CryptoServerOptions = Partial<CryptoConfig> & {
  dataDir: string;
  /** Defaults to a JSON logger on stdout at `logLevel`. */
  logger?: Logger;
  /** How long to wait between readiness checks while the store or KMS is not ready. */
  readinessRetryMs?: number;
};

export interface RunningCryptoServer {
  /** The bound "host:port" (the real port when 0 was asked for). */
  address: string;
  /** True once the store and key provider answered; health says SERVING from then on. */
  isReady(): boolean;
  /** Resolves when ready (immediately if already). */
  whenReady(): Promise<void>;
  metrics: CryptoMetrics;
  /** Health NOT_SERVING, in-flight calls finish (up to the grace period), DEKs zeroed, store closed. */
  stop(): Promise<void>;
}

export const SERVICE_NAME = CryptoService.typeName;

const MiB = 1024 * 1024;

export async function startCryptoServer(options: CryptoServerOptions): Promise<RunningCryptoServer> {
  const config = { ...DEFAULTS, ...options };
  const logger = options.logger ?? createLogger({ service: "crypto", level: config.logLevel });
  if (!config.serviceToken && !config.tls?.clientCaFile) {
    throw new Error("startCryptoServer needs serviceToken or mTLS (tls.clientCaFile): callers must authenticate");
  }
  const metrics = new CryptoMetrics();
  const store = await openStore(config, logger);
  const provider = instrument(createProvider(config), metrics);
  const cache = new DekCache({
    ttlMs: config.dekCacheTtlMs,
    maxEntries: config.dekCacheMaxEntries,
    onHit: () => metrics.cacheHits.inc(),
    onMiss: () => metrics.cacheMisses.inc(),
  });
  metrics.cacheSize = () => cache.size;
  const keyring = new Keyring({
    store,
    provider,
    cache,
    logger,
    rotateAfterEncryptions: config.rotateAfterEncryptions,
  });

  const health = new HealthImplementation({ "": "NOT_SERVING", [SERVICE_NAME]: "NOT_SERVING" });
  let ready = false;
  let stopping = false;
  let inFlight = 0; // unary CryptoService calls; health Watch streams are not counted
  const authorize = authorizer({ serviceToken: config.serviceToken, mtls: Boolean(config.tls?.clientCaFile), logger });

  const server = new grpc.Server({
    // Batches of 100 × 64 KiB plus base64 overhead fit; nothing much larger is accepted.
    "grpc.max_receive_message_length": 16 * MiB,
    "grpc.max_send_message_length": 16 * MiB,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_connection_idle_ms": 15 * 60_000,
    // No channelz service is exposed; its per-call bookkeeping (trackers, timestamps, closures) is pure cost.
    "grpc.enable_channelz": 0,
  });
  addService(server, CryptoService, cryptoServiceImpl(keyring), {
    logger,
    authorize: (call) => {
      inFlight++;
      authorize(call);
      if (!ready)
        throw new AppError("unavailable", stopping ? "crypto service is shutting down" : "crypto service is not ready");
    },
    onCallEnd: (method, code, seconds) => {
      inFlight--;
      metrics.observeRpc(method.slice(method.lastIndexOf("/") + 1), grpc.status[code] ?? String(code), seconds);
    },
  });
  health.addToServer(server);
  reflection().addToServer(server);

  let port: number;
  try {
    let serverCredentials: grpc.ServerCredentials;
    try {
      serverCredentials = credentials(config);
    } catch (error) {
      throw new Error(
        `CRYPTO_TLS_CERT_FILE / CRYPTO_TLS_KEY_FILE / CRYPTO_TLS_CLIENT_CA_FILE: ${(error as Error).message}`,
      );
    }
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(config.address, serverCredentials, (error, p) =>
        error
          ? reject(new Error(`CRYPTO_GRPC_ADDR: cannot listen on ${config.address}: ${error.message}`))
          : resolve(p),
      ),
    );
  } catch (error) {
    // Release what was opened before reporting it.
    server.forceShutdown();
    await keyring.close();
    await store.close();
    provider.close?.();
    throw error;
  }
  const address = `${config.address.slice(0, config.address.lastIndexOf(":"))}:${port}`;
  const metricsServer = config.metricsAddress ? await serveMetrics(config.metricsAddress, metrics) : undefined;
  const metricsBound = metricsServer?.address();
  const metricsAddress =
    metricsBound && typeof metricsBound === "object" ? `${metricsBound.address}:${metricsBound.port}` : undefined;
  logger.info(
    { address, metricsAddress, store: store.kind, keyProvider: provider.kind, tls: Boolean(config.tls) },
    "crypto service listening",
  );

  // Ready once the store and key provider answer; until then health says NOT_SERVING and
  // RPCs get UNAVAILABLE, and the check is retried (a KMS outage at start is not fatal).
  let retryTimer: NodeJS.Timeout | undefined;
  let resolveReady: () => void = () => {};
  const readyPromise = new Promise<void>((r) => {
    resolveReady = r;
  });
  const checkReady = async (): Promise<void> => {
    try {
      await store.check();
      await provider.check();
      if (stopping) return;
      ready = true;
      health.setStatus("", "SERVING");
      health.setStatus(SERVICE_NAME, "SERVING");
      logger.info({ wrappingKeyId: provider.currentKeyId() }, "crypto service ready");
      resolveReady();
    } catch (error) {
      logger.error({ reason: error instanceof Error ? error.message : String(error) }, "crypto service not ready");
      if (!stopping) retryTimer = setTimeout(() => void checkReady(), options.readinessRetryMs ?? 2_000);
    }
  };
  await checkReady();

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      ready = false;
      clearTimeout(retryTimer);
      health.setStatus("", "NOT_SERVING");
      health.setStatus(SERVICE_NAME, "NOT_SERVING");
      await shutdownGrpc(server, config.shutdownGraceMs, () => inFlight, logger);
      await new Promise<void>((r) => (metricsServer ? metricsServer.close(() => r()) : r()));
      await keyring.close();
      await store.close();
      provider.close?.();
      logger.info("crypto service stopped");
    })();
    return stopped;
  };

  return { address, isReady: () => ready, whenReady: () => readyPromise, metrics, stop };
}

async function openStore(config: CryptoServerOptions, logger: Logger): Promise<KeyStore> {
  if (config.mongodbUri) {
    const { MongoKeyStore } = await import("./store/mongo.ts");
    return MongoKeyStore.connect(config.mongodbUri, logger);
  }
  return new SqliteKeyStore(join(config.dataDir, "crypto.db"));
}

function createProvider(config: CryptoServerOptions): KeyProvider {
  if (config.kms) return new AwsKmsKeyProvider(config.kms);
  return new LocalKeyProvider(config.masterKeyFile ?? join(config.dataDir, "master.key"));
}

function credentials(config: CryptoServerOptions): grpc.ServerCredentials {
  if (!config.tls) return grpc.ServerCredentials.createInsecure();
  const { certFile, keyFile, clientCaFile } = config.tls;
  return grpc.ServerCredentials.createSsl(
    clientCaFile ? readFileSync(clientCaFile) : null,
    [{ cert_chain: readFileSync(certFile), private_key: readFileSync(keyFile) }],
    Boolean(clientCaFile),
  );
}

/**
 * Reflection from the committed descriptor image (which carries the health service too), so
 * no .proto is parsed at run time. The image's FileDescriptorProtos are served as protoc
 * wrote them: proto-loader's re-encoding drops imports and leaves type names relative, and
 * grpcurl / buf curl then cannot link what they receive.
 */
function reflection(): ReflectionService {
  const image = fromBinary(FileDescriptorSetSchema, readImage());
  const fileDescriptorProtos = image.file.map((file) => toBinary(FileDescriptorProtoSchema, file));
  // ReflectionService only reads `fileDescriptorProtos` from each entry of its package definition.
  const definition = { image: { fileDescriptorProtos } } as unknown as PackageDefinition;
  return new ReflectionService(definition, { services: [SERVICE_NAME, "grpc.health.v1.Health"] });
}

/**
 * Refuses new calls, lets in-flight unary calls finish (up to `graceMs`), then closes what
 * is left: health Watch streams never end on their own and would hold tryShutdown forever.
 */
function shutdownGrpc(server: grpc.Server, graceMs: number, inFlight: () => number, logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const deadline = Date.now() + graceMs;
    // Health watchers get a moment to receive NOT_SERVING before their streams are closed.
    const earliestForce = Date.now() + Math.min(200, graceMs);
    let done = false;
    server.tryShutdown(() => {
      done = true;
      resolve();
    });
    const poll = setInterval(() => {
      if (done) return clearInterval(poll);
      if ((inFlight() > 0 || Date.now() < earliestForce) && Date.now() < deadline) return;
      if (inFlight() > 0) logger.warn({ graceMs }, "in-flight calls did not finish in time: closing connections");
      clearInterval(poll);
      server.forceShutdown();
      done = true;
      resolve();
    }, 10);
  });
}

async function serveMetrics(address: string, metrics: CryptoMetrics): Promise<HttpServer> {
  const server = createHttpServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (body) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  const i = address.lastIndexOf(":");
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(address.slice(i + 1)), address.slice(0, i).replace(/^\[|\]$/g, ""), resolve);
  });
  return server;
}
