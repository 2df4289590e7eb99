// Listens and stops: binds the server app.ts builds, checks readiness until the store and the
// key-encryption key answer, serves /metrics when asked, and stops gracefully. `serve` is what
// main.ts calls and what other workspaces' tests call to run a real crypto service in-process
// on an ephemeral port.
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createLogger, type Logger } from "@cv-wallet/common/logger";
import * as grpc from "@grpc/grpc-js";
import { createCryptoDeps, createCryptoServer } from "./app.ts";
import { type CryptoConfig, DEFAULTS } from "./config.ts";
import type { CryptoMetrics } from "./metrics.ts";

export { SERVICE_NAME } from "./app.ts";
export type { CryptoConfig } from "./config.ts";
export { loadConfig } from "./config.ts";

/** CryptoConfig with defaults: `dataDir` and a credential (token or mTLS) are all a caller must give. */
export type CryptoServerOptions = Partial<CryptoConfig> & {
  dataDir: string;
  /** Defaults to a JSON logger on stdout at `logLevel`. */
  logger?: Logger;
  /** How long to wait between readiness checks while the store or KMS is not ready. */
  readinessRetryMs?: number;
  /** Once ready, how often the store's ability to write is probed. */
  storeCheckMs?: number;
};

export interface RunningCryptoServer {
  /** The bound "host:port" (the real port when 0 was asked for). */
  address: string;
  /** True once the store and key-encryption key answered; health says SERVING from then on. */
  isReady(): boolean;
  /** Resolves when ready (immediately if already). */
  whenReady(): Promise<void>;
  metrics: CryptoMetrics;
  /** Health NOT_SERVING, in-flight calls finish (up to the grace period), DEKs zeroed, store closed. */
  stop(): Promise<void>;
}

export async function serve(options: CryptoServerOptions): Promise<RunningCryptoServer> {
  const config: CryptoConfig & { readinessRetryMs: number; storeCheckMs: number } = { ...DEFAULTS, ...options };
  const logger = options.logger ?? createLogger({ service: "crypto", level: config.logLevel });
  if (!config.serviceToken && !config.tls?.clientCaFile) {
    throw new Error("serve() needs serviceToken or mTLS (tls.clientCaFile): callers must authenticate");
  }
  const deps = await createCryptoDeps(config, logger);
  const { store, kek, metrics } = deps;
  let ready = false;
  let stopping = false;
  const { server, health, inFlight } = createCryptoServer({
    keyring: deps.keyring,
    metrics,
    logger,
    serviceToken: config.serviceToken,
    mtls: Boolean(config.tls?.clientCaFile),
    clientNames: config.tls?.clientNames,
    maxConnectionAgeMs: config.maxConnectionAgeMs,
    refusal: () => (ready ? undefined : stopping ? "crypto service is shutting down" : "crypto service is not ready"),
  });

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
    await deps.close();
    throw error;
  }
  const address = `${config.address.slice(0, config.address.lastIndexOf(":"))}:${port}`;
  const metricsServer = config.metricsAddress ? await serveMetrics(config.metricsAddress, metrics) : undefined;
  const metricsBound = metricsServer?.address();
  const metricsAddress =
    metricsBound && typeof metricsBound === "object" ? `${metricsBound.address}:${metricsBound.port}` : undefined;
  logger.info(
    { address, metricsAddress, store: store.kind, kms: kek.kind, tls: Boolean(config.tls) },
    "crypto service listening",
  );

  // Ready once the store and key-encryption key answer; until then health says NOT_SERVING
  // and RPCs get UNAVAILABLE, and the check is retried (a KMS outage at start is not fatal).
  let retryTimer: NodeJS.Timeout | undefined;
  let resolveReady: () => void = () => {};
  const readyPromise = new Promise<void>((r) => {
    resolveReady = r;
  });
  const checkReady = async (): Promise<void> => {
    try {
      await store.check();
      await kek.check();
      if (stopping) return;
      ready = true;
      health.set(true);
      logger.info({ wrappingKeyId: kek.currentKeyId() }, "crypto service ready");
      resolveReady();
      retryTimer = setTimeout(() => void checkStore(), config.storeCheckMs);
    } catch (error) {
      logger.error({ reason: error instanceof Error ? error.message : String(error) }, "crypto service not ready");
      if (!stopping) retryTimer = setTimeout(() => void checkReady(), config.readinessRetryMs);
    }
  };
  // Once ready, health follows whether the store can write (a full or read-only disk, a lock
  // held too long): a load balancer then stops sending traffic here. Calls are still served:
  // decrypts of cached tenants may well succeed, and each failing write answers UNAVAILABLE.
  let storeWritable = true;
  const checkStore = async (): Promise<void> => {
    let failure: string | undefined;
    try {
      await store.check();
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
    if (stopping) return;
    if (failure !== undefined && storeWritable) {
      logger.error({ reason: failure }, "key store cannot write: health NOT_SERVING");
      health.set(false);
    } else if (failure === undefined && !storeWritable) {
      logger.info("key store writes again: health SERVING");
      health.set(true);
    }
    storeWritable = failure === undefined;
    retryTimer = setTimeout(() => void checkStore(), config.storeCheckMs);
  };
  await checkReady();

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      ready = false;
      clearTimeout(retryTimer);
      health.set(false);
      await shutdownGrpc(server, config.shutdownGraceMs, inFlight, logger);
      await new Promise<void>((r) => (metricsServer ? metricsServer.close(() => r()) : r()));
      await deps.close();
      logger.info("crypto service stopped");
    })();
    return stopped;
  };

  return { address, isReady: () => ready, whenReady: () => readyPromise, metrics, stop };
}

/** The name other workspaces' tests import (the wallet's and the web UI's test stacks). */
export const startCryptoServer = serve;

function credentials(config: CryptoConfig): grpc.ServerCredentials {
  if (!config.tls) return grpc.ServerCredentials.createInsecure();
  const { certFile, keyFile, clientCaFile } = config.tls;
  return grpc.ServerCredentials.createSsl(
    clientCaFile ? readFileSync(clientCaFile) : null,
    [{ cert_chain: readFileSync(certFile), private_key: readFileSync(keyFile) }],
    Boolean(clientCaFile),
  );
}

/**
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
