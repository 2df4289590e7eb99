// The images' HEALTHCHECK probes against the real services: the dependency-free gRPC health
// probe (plaintext and TLS) and the HTTP one, as functions and as the commands the images run.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { checkGrpcHealth, decodeStatus, encodeRequest, probeAddress } from "../probes/grpc-health.ts";
import { checkHttpHealth } from "../probes/http-health.ts";
import { repoRoot } from "./support/paths.ts";
import { freePort, type Service, serviceToken, startCrypto, startWallet } from "./support/processes.ts";

const probe = (script: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(repoRoot, "deploy/probes", script), ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, ...env },
  });

describe("probe codecs", () => {
  test("a wildcard listen address is probed on loopback", () => {
    expect(probeAddress("0.0.0.0:50051")).toBe("127.0.0.1:50051");
    expect(probeAddress("[::]:8080")).toBe("127.0.0.1:8080");
    expect(probeAddress("crypto:50051")).toBe("crypto:50051");
    expect(() => probeAddress("no-port")).toThrow(/host:port/);
  });

  test("HealthCheckRequest framing: 5-byte prefix, field 1 as a length-delimited string", () => {
    expect([...encodeRequest("")]).toEqual([0, 0, 0, 0, 0]);
    expect([...encodeRequest("ab")]).toEqual([0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]);
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (name) => {
        const frame = encodeRequest(name);
        expect(frame.readUInt32BE(1)).toBe(frame.length - 5);
      }),
    );
  });

  test("HealthCheckResponse status decodes, unknown fields skipped", () => {
    const frame = (body: number[]) => Buffer.from([0, 0, 0, 0, body.length, ...body]);
    expect(decodeStatus(frame([0x08, 1]))).toBe(1);
    expect(decodeStatus(frame([0x12, 1, 0x41, 0x08, 2]))).toBe(2);
    expect(decodeStatus(frame([]))).toBe(0);
    expect(() => decodeStatus(Buffer.from([0, 0]))).toThrow(/short/);
  });
});

describe("probes against the running services", () => {
  const dir = mkdtempSync(join(tmpdir(), "cvw-probes-"));
  const token = serviceToken();
  const services: Service[] = [];
  let crypto: Service;
  let tlsCrypto: Service;
  let wallet: Service;

  beforeAll(async () => {
    // A self-signed certificate for 127.0.0.1, to check the TLS path the images use with CRYPTO_TLS_*.
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    [crypto, tlsCrypto] = await Promise.all([
      startCrypto("crypto", { CRYPTO_DATA_DIR: join(dir, "c1"), CRYPTO_SERVICE_TOKEN: token }),
      startCryptoTls(),
    ]);
    services.push(crypto, tlsCrypto);
    wallet = await startWallet("wallet", {
      WALLET_DATA_DIR: join(dir, "w"),
      CRYPTO_GRPC_ADDR: crypto.address,
      CRYPTO_SERVICE_TOKEN: token,
    });
    services.push(wallet);
  });

  async function startCryptoTls(): Promise<Service> {
    const env = {
      CRYPTO_DATA_DIR: join(dir, "c2"),
      CRYPTO_SERVICE_TOKEN: token,
      CRYPTO_TLS_CERT_FILE: join(dir, "cert.pem"),
      CRYPTO_TLS_KEY_FILE: join(dir, "key.pem"),
    };
    // startCrypto waits on a plaintext probe; for TLS, wait with the CA instead.
    const { spawn } = await import("node:child_process");
    const address = `127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, [join(repoRoot, "services/crypto/src/main.ts")], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, CRYPTO_GRPC_ADDR: address, LOG_LEVEL: "warn", ...env },
      stdio: "ignore",
    });
    const ca = readFileSync(join(dir, "cert.pem"));
    const deadline = Date.now() + 30_000;
    while (!(await checkGrpcHealth(address, { tls: { ca }, timeoutMs: 1000 })).serving) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error("TLS crypto did not start");
      await new Promise((r) => setTimeout(r, 100));
    }
    const exited = new Promise<number | null>((r) => child.once("exit", r));
    return {
      name: "crypto-tls",
      address,
      child,
      output: () => "",
      stop: async () => {
        child.kill("SIGTERM");
        return exited;
      },
    };
  }

  afterAll(async () => {
    for (const s of services) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("grpc-health: SERVING from a running crypto, for the server and the named service", async () => {
    expect(await checkGrpcHealth(crypto.address)).toEqual({ status: "SERVING", serving: true });
    expect((await checkGrpcHealth(crypto.address, { service: "cvwallet.crypto.v1.CryptoService" })).serving).toBe(true);
    const unknown = await checkGrpcHealth(crypto.address, { service: "no.such.Service" });
    expect(unknown.serving).toBe(false);
    expect(unknown.status).toMatch(/grpc-status 5/);
  });

  test("grpc-health as the image runs it: exit 0 when serving, 1 otherwise, address from CRYPTO_GRPC_ADDR", async () => {
    const ok = probe("grpc-health.ts", [], { CRYPTO_GRPC_ADDR: crypto.address });
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/SERVING/);
    const down = probe("grpc-health.ts", [`127.0.0.1:${await freePort()}`, "--timeout-ms", "1000"]);
    expect(down.status).toBe(1);
    expect(down.stdout).toMatch(/ECONNREFUSED/);
  });

  test("grpc-health over TLS, the certificate verified against the given CA", async () => {
    const ca = join(dir, "cert.pem");
    const ok = probe("grpc-health.ts", [tlsCrypto.address, "--ca", ca]);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    // With the server's own TLS variables set (as in its container), TLS is used automatically.
    const env = probe("grpc-health.ts", [], {
      CRYPTO_GRPC_ADDR: tlsCrypto.address,
      CRYPTO_TLS_CERT_FILE: ca,
      CRYPTO_TLS_CA_FILE: ca,
    });
    expect(env.status, env.stdout + env.stderr).toBe(0);
    // Plaintext against a TLS port fails, as does TLS without a trusted CA.
    expect(probe("grpc-health.ts", [tlsCrypto.address, "--timeout-ms", "1500"]).status).toBe(1);
    expect(probe("grpc-health.ts", [tlsCrypto.address, "--tls", "--timeout-ms", "1500"]).status).toBe(1);
  });

  test("http-health: /healthz of a running wallet; a closed port fails", async () => {
    expect(await checkHttpHealth(wallet.address)).toEqual({ ok: true, status: "HTTP 200" });
    const ok = probe("http-health.ts", [], { WALLET_HTTP_ADDR: wallet.address });
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    const down = probe("http-health.ts", [`127.0.0.1:${await freePort()}`]);
    expect(down.status).toBe(1);
    const missing = probe("http-health.ts", [wallet.address, "--path", "/api/nope"]);
    expect(missing.status).toBe(1);
  });
});
