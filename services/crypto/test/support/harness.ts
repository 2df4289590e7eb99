// Starts a real crypto service on loopback (ephemeral port, own temp data dir) and a typed
// client for it, with the logs captured so tests can search them for secrets.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type UnaryClient } from "@cv-wallet/common/grpc";
import { type CapturedLogs, captureLogs } from "@cv-wallet/common/testing/logs";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { type CryptoServerOptions, type RunningCryptoServer, startCryptoServer } from "../../src/serve.ts";

export interface Harness {
  server: RunningCryptoServer;
  client: UnaryClient<typeof CryptoService>;
  channel: grpc.Client;
  token: string;
  dataDir: string;
  logs: CapturedLogs;
  /** Call options carrying the bearer token. */
  auth: { metadata: grpc.Metadata; timeoutMs: number };
  stop(): Promise<void>;
}

export async function startHarness(options: Partial<CryptoServerOptions> = {}): Promise<Harness> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "cvw-crypto-"));
  const token = options.serviceToken ?? randomBytes(24).toString("base64url");
  const logs = captureLogs("crypto");
  const server = await startCryptoServer({
    address: "127.0.0.1:0",
    logger: logs.logger,
    ...options,
    dataDir,
    serviceToken: token,
  });
  const channel = new grpc.Client(server.address, grpc.credentials.createInsecure());
  const client = createClient(CryptoService, channel);
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return {
    server,
    client,
    channel,
    token,
    dataDir,
    logs,
    auth: { metadata, timeoutMs: 30_000 },
    async stop() {
      channel.close();
      await server.stop();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The gRPC status code of a rejected call. */
export async function codeOf(promise: Promise<unknown>): Promise<grpc.status | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    return (error as grpc.ServiceError).code;
  }
}

export const utf8 = (text: string) => new TextEncoder().encode(text);
