// mTLS instead of a bearer token: a client certificate from the configured CA is enough; no
// certificate, or one from another CA, never reaches a handler. Certificates are made with
// the openssl CLI for this test run.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@cv-wallet/common/grpc";
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { reportSkip } from "@cv-wallet/common/testing/skips";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningCryptoServer, startCryptoServer } from "../src/serve.ts";
import { codeOf, utf8 } from "./support/harness.ts";

const dir = mkdtempSync(join(tmpdir(), "cvw-crypto-mtls-"));
const f = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
}

function makeCertificates(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "pipe" });
  } catch {
    reportSkip("crypto mTLS", "the openssl command is not installed");
    return false;
  }
  for (const ca of ["ca", "rogue-ca"]) {
    openssl(
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${ca}`,
      "-keyout",
      `${ca}.key`,
      "-out",
      `${ca}.pem`,
    );
  }
  const leaf = (name: string, ca: string, ext: string) => {
    openssl(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-subj",
      `/CN=${name}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    );
    openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.pem`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-days",
      "1",
      "-out",
      `${name}.pem`,
      "-extfile",
      ext,
    );
  };
  execFileSync("sh", [
    "-c",
    `printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > ${f("server.ext")}`,
  ]);
  execFileSync("sh", ["-c", `printf 'extendedKeyUsage=clientAuth\\n' > ${f("client.ext")}`]);
  execFileSync("sh", [
    "-c",
    `printf 'subjectAltName=URI:spiffe://cv/ns/wallet,DNS:wallet.internal\\nextendedKeyUsage=clientAuth\\n' > ${f("san.ext")}`,
  ]);
  leaf("server", "ca", "server.ext");
  leaf("wallet", "ca", "client.ext");
  leaf("intruder", "rogue-ca", "client.ext");
  // Signed by the right CA but not named in the allow-list, and one named only by its SAN.
  leaf("other-service", "ca", "client.ext");
  leaf("by-san", "ca", "san.ext");
  return true;
}

describe("mTLS caller authentication", () => {
  let server: RunningCryptoServer | undefined;
  const logs = captureLogs("crypto");
  const clients: grpc.Client[] = [];
  const connect = (cert?: string, to = server) => {
    const credentials = grpc.credentials.createSsl(
      readFileSync(f("ca.pem")),
      cert ? readFileSync(f(`${cert}.key`)) : null,
      cert ? readFileSync(f(`${cert}.pem`)) : null,
    );
    const channel = new grpc.Client(to!.address, credentials);
    clients.push(channel);
    return createClient(CryptoService, channel);
  };

  beforeAll(async () => {
    if (!makeCertificates()) return;
    server = await startCryptoServer({
      address: "127.0.0.1:0",
      dataDir: f("data"),
      logger: logs.logger,
      tls: { certFile: f("server.pem"), keyFile: f("server.key"), clientCaFile: f("ca.pem") },
    });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves a client whose certificate the CA signed, with no token", async ({ skip }) => {
    if (!server) return skip();
    const client = connect("wallet");
    const sealed = await client.encrypt(
      { keyName: "user/m", plaintext: utf8("over mtls"), context: utf8("c") },
      { timeoutMs: 10_000 },
    );
    const opened = await client.decrypt(
      { keyName: "user/m", ciphertext: sealed.ciphertext, context: utf8("c") },
      { timeoutMs: 10_000 },
    );
    expect(Buffer.from(opened.plaintext).toString()).toBe("over mtls");
  });

  it("refuses a client without a certificate or with one from another CA", async ({ skip }) => {
    if (!server) return skip();
    const none = await codeOf(connect().encrypt({ keyName: "user/m", plaintext: utf8("x") }, { timeoutMs: 5_000 }));
    const rogue = await codeOf(
      connect("intruder").encrypt({ keyName: "user/m", plaintext: utf8("x") }, { timeoutMs: 5_000 }),
    );
    expect(none).not.toBe("ok");
    expect(rogue).not.toBe("ok");
    expect([none, rogue]).not.toContain(grpc.status.INTERNAL);
  });

  it("with CRYPTO_TLS_CLIENT_NAMES, serves only certificates naming an allowed subject (CN or SAN)", async ({
    skip,
  }) => {
    if (!server) return skip();
    const limited = await startCryptoServer({
      address: "127.0.0.1:0",
      dataDir: f("data-limited"),
      logger: logs.logger,
      tls: {
        certFile: f("server.pem"),
        keyFile: f("server.key"),
        clientCaFile: f("ca.pem"),
        clientNames: ["wallet", "spiffe://cv/ns/wallet"],
      },
    });
    try {
      const call = (cert: string) =>
        codeOf(connect(cert, limited).encrypt({ keyName: "user/l", plaintext: utf8("x") }, { timeoutMs: 10_000 }));
      expect(await call("wallet")).toBe("ok");
      expect(await call("by-san")).toBe("ok");
      expect(await call("other-service")).toBe(grpc.status.UNAUTHENTICATED);
      expect(logs.text()).toContain("client certificate not in CRYPTO_TLS_CLIENT_NAMES");
      // The unrestricted server still serves it: the list is what refused it.
      expect(await codeOf(connect("other-service").encrypt({ keyName: "user/l", plaintext: utf8("x") }))).toBe("ok");
    } finally {
      await limited.stop();
    }
  });
});
