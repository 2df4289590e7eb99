import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "@cv-wallet/common/config";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";

const TOKEN = "a-service-token-of-some-length";

function problem(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("crypto configuration", () => {
  it("has working defaults once a token is given", () => {
    const config = loadConfig({ CRYPTO_SERVICE_TOKEN: TOKEN });
    expect(config).toMatchObject({
      address: "127.0.0.1:50051",
      serviceToken: TOKEN,
      dekCacheTtlMs: 300_000,
      dekCacheMaxEntries: 10_000,
      rotateAfterEncryptions: 100_000_000,
      kms: undefined,
      mongodbUri: undefined,
    });
    expect(config.dataDir).toMatch(/\/data\/crypto$/);
    expect(config.masterKeyFile).toBe(join(config.dataDir, "master.key"));
  });

  it("reads the mTLS client name allow-list, which needs a client CA", () => {
    const config = loadConfig({
      CRYPTO_TLS_CERT_FILE: "/c.pem",
      CRYPTO_TLS_KEY_FILE: "/k.pem",
      CRYPTO_TLS_CLIENT_CA_FILE: "/ca.pem",
      CRYPTO_TLS_CLIENT_NAMES: " wallet , spiffe://cv/ns/wallet,,",
    });
    expect(config.tls?.clientNames).toEqual(["wallet", "spiffe://cv/ns/wallet"]);
    expect(
      loadConfig({ CRYPTO_TLS_CERT_FILE: "/c", CRYPTO_TLS_KEY_FILE: "/k", CRYPTO_TLS_CLIENT_CA_FILE: "/ca" }).tls
        ?.clientNames,
    ).toBeUndefined();
    expect(problem({ CRYPTO_SERVICE_TOKEN: TOKEN, CRYPTO_TLS_CLIENT_NAMES: "wallet" }).variables).toEqual([
      "CRYPTO_TLS_CLIENT_NAMES",
    ]);
  });

  it("refuses to start without caller credentials, naming the variables", () => {
    const error = problem({});
    expect(error.variables).toEqual(["CRYPTO_SERVICE_TOKEN"]);
    expect(error.message).toMatch(/CRYPTO_SERVICE_TOKEN_FILE/);
    expect(error.message).toMatch(/CRYPTO_TLS_CLIENT_CA_FILE/);
  });

  it("reads the token from CRYPTO_SERVICE_TOKEN_FILE and never echoes it", () => {
    const dir = mkdtempSync(join(tmpdir(), "cvw-crypto-config-"));
    writeFileSync(join(dir, "token"), `${TOKEN}\n`, { mode: 0o600 });
    expect(loadConfig({ CRYPTO_SERVICE_TOKEN_FILE: join(dir, "token") }).serviceToken).toBe(TOKEN);
    expect(problem({ CRYPTO_SERVICE_TOKEN_FILE: join(dir, "absent") }).variables).toEqual([
      "CRYPTO_SERVICE_TOKEN_FILE",
    ]);
    const short = problem({ CRYPTO_SERVICE_TOKEN: "short-secret" });
    expect(short.variables).toEqual(["CRYPTO_SERVICE_TOKEN"]);
    expect(short.message).not.toContain("short-secret");
  });

  it("names each bad variable", () => {
    expect(problem({ CRYPTO_SERVICE_TOKEN: TOKEN, CRYPTO_GRPC_ADDR: "nope" }).variables).toEqual(["CRYPTO_GRPC_ADDR"]);
    expect(problem({ CRYPTO_SERVICE_TOKEN: TOKEN, CRYPTO_DEK_CACHE_TTL: "soon" }).variables).toEqual([
      "CRYPTO_DEK_CACHE_TTL",
    ]);
    expect(problem({ CRYPTO_SERVICE_TOKEN: TOKEN, CRYPTO_DEK_CACHE_MAX_ENTRIES: "0" }).variables).toEqual([
      "CRYPTO_DEK_CACHE_MAX_ENTRIES",
    ]);
    expect(problem({ CRYPTO_SERVICE_TOKEN: TOKEN, CRYPTO_TLS_CERT_FILE: "/c.pem" }).variables).toEqual([
      "CRYPTO_TLS_CERT_FILE",
    ]);
    expect(problem({ CRYPTO_SERVICE_TOKEN: TOKEN, LOG_LEVEL: "loud" }).variables).toEqual(["LOG_LEVEL"]);
  });

  it("selects aws-kms when KMS_KEY_ID is set, and mTLS without a token", () => {
    const kms = loadConfig({
      CRYPTO_SERVICE_TOKEN: TOKEN,
      KMS_KEY_ID: "alias/cvw",
      AWS_REGION: "eu-west-1",
      AWS_ENDPOINT_URL_KMS: "http://127.0.0.1:4566",
    });
    expect(kms.kms).toMatchObject({ keyId: "alias/cvw", region: "eu-west-1", endpoint: "http://127.0.0.1:4566" });
    const mtls = loadConfig({
      CRYPTO_TLS_CERT_FILE: "/c",
      CRYPTO_TLS_KEY_FILE: "/k",
      CRYPTO_TLS_CLIENT_CA_FILE: "/ca",
    });
    expect(mtls.serviceToken).toBeUndefined();
    expect(mtls.tls).toEqual({ certFile: "/c", keyFile: "/k", clientCaFile: "/ca" });
  });

  it("closes client connections after 30 min unless told otherwise (CRYPTO_MAX_CONNECTION_AGE)", () => {
    expect(loadConfig({ CRYPTO_SERVICE_TOKEN: TOKEN }).maxConnectionAgeMs).toBe(30 * 60_000);
    expect(loadConfig({ CRYPTO_SERVICE_TOKEN: TOKEN, CRYPTO_MAX_CONNECTION_AGE: "5m" }).maxConnectionAgeMs).toBe(
      300_000,
    );
    expect(loadConfig({ CRYPTO_SERVICE_TOKEN: TOKEN, CRYPTO_MAX_CONNECTION_AGE: "off" }).maxConnectionAgeMs).toBe(0);
    expect(problem({ CRYPTO_SERVICE_TOKEN: TOKEN, CRYPTO_MAX_CONNECTION_AGE: "100ms" }).variables).toEqual([
      "CRYPTO_MAX_CONNECTION_AGE",
    ]);
  });
});

describe("startCryptoServer start-up failures", () => {
  it("names CRYPTO_GRPC_ADDR when the address is taken, and releases the store", async () => {
    const { startCryptoServer } = await import("../src/serve.ts");
    const { captureLogs } = await import("@cv-wallet/common/testing/logs");
    const dataDir = mkdtempSync(join(tmpdir(), "cvw-crypto-bind-"));
    const logger = captureLogs("crypto").logger;
    const first = await startCryptoServer({ address: "127.0.0.1:0", dataDir, serviceToken: TOKEN, logger });
    try {
      await expect(startCryptoServer({ address: first.address, dataDir, serviceToken: TOKEN, logger })).rejects.toThrow(
        /^CRYPTO_GRPC_ADDR: cannot listen/,
      );
      await expect(
        startCryptoServer({
          address: "127.0.0.1:0",
          dataDir,
          serviceToken: TOKEN,
          logger,
          tls: { certFile: join(dataDir, "absent.pem"), keyFile: join(dataDir, "absent.key") },
        }),
      ).rejects.toThrow(/^CRYPTO_TLS_CERT_FILE/);
    } finally {
      await first.stop();
    }
  });
});
