// The crypto service's configuration: the environment, read once through one zod schema.
// A bad value stops the service with the variable's name (never its value).
import { readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { ConfigError, env, loadConfig as parseEnvironment } from "@cv-wallet/common/config";
import { z } from "zod";

/** Every default of the service, in one place: the environment schema and `serve()` options use these. */
export const DEFAULTS = {
  address: "127.0.0.1:50051",
  dataDir: "./data/crypto",
  kmsTimeoutMs: 5_000,
  dekCacheTtlMs: 5 * 60_000,
  dekCacheMaxEntries: 10_000,
  // NIST SP 800-38D bounds random 96-bit nonces to 2^32 messages per key; stay far below.
  rotateAfterEncryptions: 100_000_000,
  shutdownGraceMs: 10_000,
  /**
   * A client connection is closed (GOAWAY, then the grace below) after about this long, so a
   * long-lived client channel re-resolves the name and reaches replicas added since it connected.
   */
  maxConnectionAgeMs: 30 * 60_000,
  logLevel: "info",
  /** How long to wait between readiness checks while the store or KMS is not ready. */
  readinessRetryMs: 2_000,
  /** Once ready, how often the store's ability to write is probed (health follows it). */
  storeCheckMs: 5_000,
} as const;

const schema = z.object({
  CRYPTO_GRPC_ADDR: env.address(DEFAULTS.address),
  CRYPTO_DATA_DIR: z.string().default(DEFAULTS.dataDir),
  CRYPTO_SERVICE_TOKEN: env.optionalString(),
  CRYPTO_SERVICE_TOKEN_FILE: env.optionalString(),
  CRYPTO_TLS_CERT_FILE: env.optionalString(),
  CRYPTO_TLS_KEY_FILE: env.optionalString(),
  CRYPTO_TLS_CLIENT_CA_FILE: env.optionalString(),
  CRYPTO_TLS_CLIENT_NAMES: env.optionalString(),
  CRYPTO_MASTER_KEY_FILE: env.optionalString(),
  MONGODB_URI: env.optionalString(),
  KMS_KEY_ID: env.optionalString(),
  AWS_REGION: env.optionalString(),
  AWS_ENDPOINT_URL_KMS: env.optionalString(),
  CRYPTO_KMS_TIMEOUT: env.duration(`${DEFAULTS.kmsTimeoutMs}ms`),
  CRYPTO_DEK_CACHE_TTL: env.duration(`${DEFAULTS.dekCacheTtlMs}ms`),
  CRYPTO_DEK_CACHE_MAX_ENTRIES: env.integer(DEFAULTS.dekCacheMaxEntries, 1, 10_000_000),
  CRYPTO_ROTATE_AFTER_ENCRYPTIONS: env.integer(DEFAULTS.rotateAfterEncryptions, 1, 1_000_000_000),
  CRYPTO_METRICS_ADDR: env.optionalString(),
  CRYPTO_SHUTDOWN_GRACE: env.duration(`${DEFAULTS.shutdownGraceMs}ms`),
  CRYPTO_MAX_CONNECTION_AGE: env.interval(`${DEFAULTS.maxConnectionAgeMs}ms`),
  LOG_LEVEL: env.logLevel(),
});

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** Set: clients must present a certificate signed by this CA (mTLS). */
  clientCaFile?: string | undefined;
  /**
   * With mTLS, the client certificates accepted: one of these must be the subject's CN or a
   * DNS / URI / email subject alternative name. Empty or unset: any certificate the CA signed.
   */
  clientNames?: readonly string[] | undefined;
}

export interface CryptoConfig {
  /** host:port; port 0 picks a free one. */
  address: string;
  dataDir: string;
  /** Bearer token callers must present. Optional only when mTLS authenticates callers. */
  serviceToken?: string | undefined;
  tls?: TlsConfig | undefined;
  /** Default `<dataDir>/master.key`. */
  masterKeyFile?: string | undefined;
  mongodbUri?: string | undefined;
  kms?: { keyId: string; region?: string | undefined; endpoint?: string | undefined; timeoutMs: number } | undefined;
  dekCacheTtlMs: number;
  dekCacheMaxEntries: number;
  rotateAfterEncryptions: number;
  /** host:port for GET /metrics; unset = no metrics listener. */
  metricsAddress?: string | undefined;
  shutdownGraceMs: number;
  /** How long a client connection is kept before the server asks the client to reconnect; 0: forever. */
  maxConnectionAgeMs: number;
  logLevel: string;
}

/** Reads the environment; throws ConfigError naming the variables at fault. */
export function loadConfig(environment: Record<string, string | undefined> = process.env): CryptoConfig {
  const e = parseEnvironment(schema, environment);
  const problems: { variable: string; message: string }[] = [];
  const dataDir = isAbsolute(e.CRYPTO_DATA_DIR) ? e.CRYPTO_DATA_DIR : resolve(e.CRYPTO_DATA_DIR);

  let serviceToken = e.CRYPTO_SERVICE_TOKEN;
  if (!serviceToken && e.CRYPTO_SERVICE_TOKEN_FILE) {
    try {
      serviceToken = readFileSync(e.CRYPTO_SERVICE_TOKEN_FILE, "utf8").trim();
      if (!serviceToken) problems.push({ variable: "CRYPTO_SERVICE_TOKEN_FILE", message: "the file is empty" });
    } catch (error) {
      problems.push({
        variable: "CRYPTO_SERVICE_TOKEN_FILE",
        message: `cannot read the file (${(error as NodeJS.ErrnoException).code})`,
      });
    }
  }
  if (serviceToken !== undefined && serviceToken.length < 16 && serviceToken.length > 0) {
    problems.push({ variable: "CRYPTO_SERVICE_TOKEN", message: "must be at least 16 characters" });
  }

  const clientNames = (e.CRYPTO_TLS_CLIENT_NAMES ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  if (clientNames.length > 0 && !e.CRYPTO_TLS_CLIENT_CA_FILE) {
    problems.push({ variable: "CRYPTO_TLS_CLIENT_NAMES", message: "needs CRYPTO_TLS_CLIENT_CA_FILE (mTLS)" });
  }
  let tls: TlsConfig | undefined;
  if (e.CRYPTO_TLS_CERT_FILE || e.CRYPTO_TLS_KEY_FILE) {
    if (!e.CRYPTO_TLS_CERT_FILE || !e.CRYPTO_TLS_KEY_FILE) {
      problems.push({
        variable: "CRYPTO_TLS_CERT_FILE",
        message: "CRYPTO_TLS_CERT_FILE and CRYPTO_TLS_KEY_FILE go together",
      });
    } else {
      tls = {
        certFile: e.CRYPTO_TLS_CERT_FILE,
        keyFile: e.CRYPTO_TLS_KEY_FILE,
        clientCaFile: e.CRYPTO_TLS_CLIENT_CA_FILE,
        clientNames: clientNames.length > 0 ? clientNames : undefined,
      };
    }
  } else if (e.CRYPTO_TLS_CLIENT_CA_FILE) {
    problems.push({
      variable: "CRYPTO_TLS_CLIENT_CA_FILE",
      message: "needs CRYPTO_TLS_CERT_FILE and CRYPTO_TLS_KEY_FILE",
    });
  }
  if (!serviceToken && !tls?.clientCaFile && !problems.some((p) => p.variable.startsWith("CRYPTO_SERVICE_TOKEN"))) {
    problems.push({
      variable: "CRYPTO_SERVICE_TOKEN",
      message:
        "callers must authenticate: set CRYPTO_SERVICE_TOKEN or CRYPTO_SERVICE_TOKEN_FILE, or mTLS " +
        "(CRYPTO_TLS_CERT_FILE, CRYPTO_TLS_KEY_FILE, CRYPTO_TLS_CLIENT_CA_FILE)",
    });
  }
  if (e.CRYPTO_METRICS_ADDR && !/^[A-Za-z0-9.[\]:-]+:\d{1,5}$/.test(e.CRYPTO_METRICS_ADDR)) {
    problems.push({ variable: "CRYPTO_METRICS_ADDR", message: "must be host:port, e.g. 127.0.0.1:9464" });
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return Object.freeze({
    address: e.CRYPTO_GRPC_ADDR,
    dataDir,
    serviceToken,
    tls,
    masterKeyFile: e.CRYPTO_MASTER_KEY_FILE ?? join(dataDir, "master.key"),
    mongodbUri: e.MONGODB_URI,
    kms: e.KMS_KEY_ID
      ? { keyId: e.KMS_KEY_ID, region: e.AWS_REGION, endpoint: e.AWS_ENDPOINT_URL_KMS, timeoutMs: e.CRYPTO_KMS_TIMEOUT }
      : undefined,
    dekCacheTtlMs: e.CRYPTO_DEK_CACHE_TTL,
    dekCacheMaxEntries: e.CRYPTO_DEK_CACHE_MAX_ENTRIES,
    rotateAfterEncryptions: e.CRYPTO_ROTATE_AFTER_ENCRYPTIONS,
    metricsAddress: e.CRYPTO_METRICS_ADDR,
    shutdownGraceMs: e.CRYPTO_SHUTDOWN_GRACE,
    maxConnectionAgeMs: e.CRYPTO_MAX_CONNECTION_AGE,
    logLevel: e.LOG_LEVEL,
  });
}
