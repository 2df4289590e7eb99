// The wallet's configuration: every environment variable it reads, parsed once at start-up
// into a frozen object. A bad value stops the service with a message naming the variable.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, env, loadConfig as parseEnv } from "@cv-wallet/common/config";
import { z } from "zod";
import { type ProviderConfig, providerConfigFrom, providerConfigShape } from "./checks/config.ts";

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const schema = z.object({
  WALLET_HTTP_ADDR: env.address("127.0.0.1:8080"),
  WALLET_GRPC_ADDR: env.optionalString(),
  // Prometheus metrics on a listener of their own, never on the public port; unset means off.
  WALLET_METRICS_ADDR: env.optionalString().refine((v) => v === undefined || /^[A-Za-z0-9.[\]:-]+:\d{1,5}$/.test(v), {
    message: "must be host:port, e.g. 127.0.0.1:9464",
  }),
  WALLET_DATA_DIR: z.string().default("./data/wallet"),
  WALLET_PUBLIC_URL: env.optionalString().refine((v) => v === undefined || /^https?:\/\/[^/]+\/?$/.test(v), {
    message: "must be an origin such as https://wallet.example.com",
  }),
  WALLET_WEB_DIR: env.optionalString(),
  WALLET_TRUST_PROXY: env.boolean(false),
  WALLET_SESSION_TTL: env.duration("7d"),
  WALLET_RETRIEVAL_RATE_LIMIT: env.integer(600, 1, 10_000_000),
  WALLET_SIGNUP_RATE_LIMIT: env.integer(20, 1, 10_000_000),
  WALLET_AUDIT_RETENTION_DAYS: env.integer(90, 0, 36_500),
  WALLET_BODY_LIMIT_BYTES: env.integer(65_536, 1024, 10_485_760),
  WALLET_REQUEST_TIMEOUT: env.duration("15s").refine((ms) => ms >= 1000 && ms <= 3_600_000, {
    message: "must be a duration from 1s to 1h, such as 15s",
  }),
  WALLET_DEVICE_CODE_TTL: env.duration("10m"),
  WALLET_DEVICE_POLL_INTERVAL: env.integer(5, 1, 60),
  // How often to look for keys owing an expiry reminder; 0 or off: never.
  WALLET_REMINDER_INTERVAL: env.interval("1h"),
  // WALLET_PROVIDER_<ID>_BASE_URL, WALLET_ALLOW_PRIVATE_BASE_URLS, WALLET_VALIDATE_INTERVAL.
  ...providerConfigShape,
  CRYPTO_GRPC_ADDR: env.address("127.0.0.1:50051"),
  CRYPTO_SERVICE_TOKEN: env.optionalString(),
  CRYPTO_SERVICE_TOKEN_FILE: env.optionalString(),
  // The wallet's side of TLS to the crypto service (CRYPTO_TLS_* name the crypto server's own files).
  WALLET_CRYPTO_TLS_CA_FILE: env.optionalString(),
  WALLET_CRYPTO_TLS_CERT_FILE: env.optionalString(),
  WALLET_CRYPTO_TLS_KEY_FILE: env.optionalString(),
  CRYPTO_TIMEOUT: env.duration("3s"),
  MONGODB_URI: env.optionalString(),
  LOG_LEVEL: env.logLevel(),
});

export interface WalletConfig {
  /** host:port for REST, Connect and gRPC-Web (HTTP/1.1); port 0 picks a free one. */
  httpAddr: string;
  /** Optional host:port for the gRPC protocol (HTTP/2 cleartext); unset means off. */
  grpcAddr?: string | undefined;
  /** Optional host:port serving GET /metrics (Prometheus) alone; unset means no metrics listener. */
  metricsAddr?: string | undefined;
  /** Where the SQLite file lives when no MongoDB is configured. */
  dataDir: string;
  /** The public origin (CSRF origin check, Secure cookies); unset means the request's Host. */
  publicUrl?: string | undefined;
  /** The built web UI; served at / when the directory exists. */
  webDir: string;
  trustProxy: boolean;
  sessionTtlMs: number;
  /** Key retrievals (provider key + reveal) per minute per token or session. */
  retrievalRateLimitPerMinute: number;
  /** Audit events older than this many days are deleted (hourly; a TTL index on MongoDB); 0 keeps them forever. */
  auditRetentionDays: number;
  /** Sign-ups per hour per client address (each costs a 19 MiB password hash). */
  signUpRateLimitPerHour: number;
  bodyLimitBytes: number;
  /** How long a client has to send a whole request, headers and body (408 and the connection closed after). */
  requestTimeoutMs: number;
  /** Device sign-in: how long a device code lives, and the polling interval (seconds) handed out. */
  deviceCodeTtlMs: number;
  devicePollIntervalSeconds: number;
  /** How often expiry reminders are looked for (webhooks); 0 = never. */
  reminderIntervalMs: number;
  /** Waits before each retry of a webhook delivery (tests shorten them). */
  webhookRetryDelaysMs: readonly number[];
  /** Key validation: base URL overrides, private base URLs, re-check interval (0 = off). */
  providers: ProviderConfig;
  crypto: {
    address: string;
    /** Bearer token the crypto service expects. */
    token: string;
    timeoutMs: number;
    tls?: { ca: Buffer; cert?: Buffer | undefined; key?: Buffer | undefined } | undefined;
  };
  mongodbUri?: string | undefined;
  logLevel: string;
}

/** Reads the environment; throws ConfigError naming each bad variable. */
export function loadConfig(source: Record<string, string | undefined> = process.env): WalletConfig {
  const c = parseEnv(schema, source);
  const problems: { variable: string; message: string }[] = [];
  const readFile = (variable: string, path: string): Buffer | undefined => {
    try {
      return readFileSync(path);
    } catch {
      problems.push({ variable, message: "cannot read the file it names" });
      return undefined;
    }
  };
  let token = c.CRYPTO_SERVICE_TOKEN;
  if (!token && c.CRYPTO_SERVICE_TOKEN_FILE) {
    token = readFile("CRYPTO_SERVICE_TOKEN_FILE", c.CRYPTO_SERVICE_TOKEN_FILE)?.toString("utf8").trim();
  }
  if (!token) problems.push({ variable: "CRYPTO_SERVICE_TOKEN", message: "set it or CRYPTO_SERVICE_TOKEN_FILE" });
  let tls: WalletConfig["crypto"]["tls"];
  if (c.WALLET_CRYPTO_TLS_CA_FILE) {
    const ca = readFile("WALLET_CRYPTO_TLS_CA_FILE", c.WALLET_CRYPTO_TLS_CA_FILE);
    const certFile = c.WALLET_CRYPTO_TLS_CERT_FILE;
    const keyFile = c.WALLET_CRYPTO_TLS_KEY_FILE;
    if (Boolean(certFile) !== Boolean(keyFile)) {
      problems.push({
        variable: "WALLET_CRYPTO_TLS_CERT_FILE",
        message: "goes together with WALLET_CRYPTO_TLS_KEY_FILE",
      });
    }
    const cert = certFile ? readFile("WALLET_CRYPTO_TLS_CERT_FILE", certFile) : undefined;
    const key = keyFile ? readFile("WALLET_CRYPTO_TLS_KEY_FILE", keyFile) : undefined;
    if (ca) tls = { ca, cert, key };
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return fromParsed(c, token!, tls);
}

/** The same name the web end-to-end support imports. */
export const readConfig = loadConfig;

/**
 * Every setting at its default (what an empty environment gives), except the crypto token,
 * which has none. Tests and benchmarks start wallets from these.
 */
export function configDefaults(): WalletConfig {
  return fromParsed(parseEnv(schema, {}), "", undefined);
}

function fromParsed(c: z.infer<typeof schema>, token: string, tls: WalletConfig["crypto"]["tls"]): WalletConfig {
  return Object.freeze({
    httpAddr: c.WALLET_HTTP_ADDR,
    grpcAddr: c.WALLET_GRPC_ADDR,
    metricsAddr: c.WALLET_METRICS_ADDR,
    dataDir: resolve(c.WALLET_DATA_DIR),
    publicUrl: c.WALLET_PUBLIC_URL?.replace(/\/$/, ""),
    webDir: c.WALLET_WEB_DIR
      ? isAbsolute(c.WALLET_WEB_DIR)
        ? c.WALLET_WEB_DIR
        : resolve(c.WALLET_WEB_DIR)
      : defaultWebDir(),
    trustProxy: c.WALLET_TRUST_PROXY,
    sessionTtlMs: c.WALLET_SESSION_TTL,
    retrievalRateLimitPerMinute: c.WALLET_RETRIEVAL_RATE_LIMIT,
    signUpRateLimitPerHour: c.WALLET_SIGNUP_RATE_LIMIT,
    auditRetentionDays: c.WALLET_AUDIT_RETENTION_DAYS,
    bodyLimitBytes: c.WALLET_BODY_LIMIT_BYTES,
    requestTimeoutMs: c.WALLET_REQUEST_TIMEOUT,
    deviceCodeTtlMs: c.WALLET_DEVICE_CODE_TTL,
    devicePollIntervalSeconds: c.WALLET_DEVICE_POLL_INTERVAL,
    reminderIntervalMs: c.WALLET_REMINDER_INTERVAL,
    webhookRetryDelaysMs: [2000, 10_000, 60_000],
    providers: providerConfigFrom(c as Record<string, unknown>),
    crypto: { address: c.CRYPTO_GRPC_ADDR, token, timeoutMs: c.CRYPTO_TIMEOUT, tls },
    mongodbUri: c.MONGODB_URI,
    logLevel: c.LOG_LEVEL,
  });
}

/** The repository's web/build, found relative to this package (not the working directory). */
export function defaultWebDir(): string {
  return resolve(packageDir, "..", "..", "web", "build");
}
