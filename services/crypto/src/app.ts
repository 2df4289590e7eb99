// Composition: the tenant key store, the key-encryption key and the keyring from a config
// (`createCryptoDeps`), and the grpc-js server with CryptoService, auth, health and reflection
// from those (`createCryptoServer`). Nothing here listens: serve.ts binds and stops.
import { join } from "node:path";
import { AppError } from "@cv-wallet/common/errors";
import { addService, grpcCodeName } from "@cv-wallet/common/grpc";
import type { Logger } from "@cv-wallet/common/logger";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import type { CryptoConfig } from "./config.ts";
import { authorizer } from "./edge/grpc/auth.ts";
import { cryptoServiceImpl } from "./edge/grpc/crypto-service.ts";
import { HEALTH_SERVICE, Health } from "./edge/grpc/health.ts";
import { reflection } from "./edge/grpc/reflection.ts";
import { DekCache } from "./keyring/dek-cache.ts";
import { Keyring } from "./keyring/keyring.ts";
import { AwsKmsKekProvider } from "./kms/aws.ts";
import { instrument } from "./kms/instrumented.ts";
import type { KekProvider } from "./kms/kek-provider.ts";
import { LocalKekProvider } from "./kms/local.ts";
import { CryptoMetrics } from "./metrics.ts";
import type { TenantKeyStore } from "./store/port.ts";
import { SqliteTenantKeyStore } from "./store/sqlite/tenant-key-store.ts";

export const SERVICE_NAME = CryptoService.typeName;

const MiB = 1024 * 1024;

export interface CryptoDeps {
  store: TenantKeyStore;
  kek: KekProvider;
  keyring: Keyring;
  metrics: CryptoMetrics;
  logger: Logger;
  /** Flushes counters, zeroes cached DEKs, closes the store and the KMS client. */
  close(): Promise<void>;
}

/** Opens the store, builds the key-encryption key provider and the keyring for `config`. */
export async function createCryptoDeps(config: CryptoConfig, logger: Logger): Promise<CryptoDeps> {
  const metrics = new CryptoMetrics();
  const store = await openStore(config, logger);
  const kek = instrument(createKek(config), metrics);
  const cache = new DekCache({
    ttlMs: config.dekCacheTtlMs,
    maxEntries: config.dekCacheMaxEntries,
    onHit: () => metrics.cacheHits.inc(),
    onMiss: () => metrics.cacheMisses.inc(),
  });
  metrics.cacheSize = () => cache.size;
  const keyring = new Keyring({
    store,
    kek,
    cache,
    logger,
    rotateAfterEncryptions: config.rotateAfterEncryptions,
  });
  return {
    store,
    kek,
    keyring,
    metrics,
    logger,
    async close() {
      await keyring.close();
      await store.close();
      kek.close?.();
    },
  };
}

async function openStore(config: CryptoConfig, logger: Logger): Promise<TenantKeyStore> {
  if (config.mongodbUri) {
    const { MongoTenantKeyStore } = await import("./store/mongo/tenant-key-store.ts");
    return MongoTenantKeyStore.connect(config.mongodbUri, logger);
  }
  return new SqliteTenantKeyStore(join(config.dataDir, "crypto.db"), logger);
}

function createKek(config: CryptoConfig): KekProvider {
  if (config.kms) return new AwsKmsKekProvider(config.kms);
  return new LocalKekProvider(config.masterKeyFile ?? join(config.dataDir, "master.key"));
}

export interface CryptoServerDeps {
  keyring: Keyring;
  metrics: CryptoMetrics;
  logger: Logger;
  /** Bearer token callers may present. */
  serviceToken?: string | undefined;
  /** Client certificates are verified by the TLS layer (mTLS). */
  mtls: boolean;
  /** With mTLS, the certificate names accepted (empty: any the CA signed). */
  clientNames?: readonly string[] | undefined;
  /** Whether CryptoService calls are served now, and if not, why (the caller sees it as UNAVAILABLE). */
  refusal: () => string | undefined;
  /** Close each client connection after about this long (GOAWAY first); 0 or unset: never. */
  maxConnectionAgeMs?: number | undefined;
}

/**
 * Once a connection is past its age the server sends GOAWAY: the client opens a new connection
 * for its next calls while calls already running on the old one get this long to finish.
 * Longer than any call the wallet makes (its deadline is seconds), shorter than a rollout step.
 */
const CONNECTION_AGE_GRACE_MS = 30_000;

export interface CryptoServer {
  /** Not yet bound: serve() binds it. */
  server: grpc.Server;
  health: Health;
  /** Unary CryptoService calls running now (health Watch streams are not counted). */
  inFlight(): number;
}

export function createCryptoServer(deps: CryptoServerDeps): CryptoServer {
  const { keyring, metrics, logger } = deps;
  const health = new Health(SERVICE_NAME);
  let inFlight = 0;
  const authorize = authorizer({
    serviceToken: deps.serviceToken,
    mtls: deps.mtls,
    clientNames: deps.clientNames,
    logger,
  });

  const server = new grpc.Server({
    // Batches of 100 × 64 KiB plus base64 overhead fit; nothing much larger is accepted.
    "grpc.max_receive_message_length": 16 * MiB,
    "grpc.max_send_message_length": 16 * MiB,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_connection_idle_ms": 15 * 60_000,
    // Without an age a client channel keeps its connections for ever and never meets replicas
    // added after it connected (it re-resolves the name only when a connection ends).
    ...(deps.maxConnectionAgeMs
      ? {
          "grpc.max_connection_age_ms": deps.maxConnectionAgeMs,
          "grpc.max_connection_age_grace_ms": CONNECTION_AGE_GRACE_MS,
        }
      : {}),
    // No channelz service is exposed; its per-call bookkeeping (trackers, timestamps, closures) is pure cost.
    "grpc.enable_channelz": 0,
  });
  addService(server, CryptoService, cryptoServiceImpl(keyring), {
    logger,
    authorize: (call) => {
      inFlight++;
      authorize(call);
      const refusal = deps.refusal();
      if (refusal) throw new AppError("unavailable", refusal);
    },
    onCallEnd: (method, code, seconds) => {
      inFlight--;
      metrics.observeRpc(method.slice(method.lastIndexOf("/") + 1), grpcCodeName(code), seconds);
    },
  });
  health.implementation.addToServer(server);
  reflection([SERVICE_NAME, HEALTH_SERVICE]).addToServer(server);
  return { server, health, inFlight: () => inFlight };
}
