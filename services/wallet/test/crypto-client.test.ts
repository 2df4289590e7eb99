// The crypto client's retries come from grpc-js's retry policy (the channel's service config):
// an idempotent call that meets UNAVAILABLE is tried again, Encrypt is not. The peer here is a
// bare grpc-js server answering the crypto service's paths, so the attempts can be counted.
import { create, type DescMethod, fromBinary, toBinary } from "@bufbuild/protobuf";
import { captureLogs } from "@cv-wallet/common/testing/logs";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { createCryptoClient } from "../src/clients/crypto.ts";

let server: grpc.Server | undefined;
afterEach(() => {
  server?.forceShutdown();
  server = undefined;
});

/** Serves `methods`, each failing with UNAVAILABLE `failures` times before answering `reply`. */
async function peer(
  methods: { method: DescMethod; failures: number; reply: Record<string, unknown> }[],
): Promise<{ address: string; attempts: Map<string, number> }> {
  const attempts = new Map<string, number>();
  server = new grpc.Server();
  for (const { method, failures, reply } of methods) {
    server.addService(
      {
        [method.localName]: {
          path: `/${method.parent.typeName}/${method.name}`,
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (m: Record<string, unknown>) =>
            Buffer.from(toBinary(method.output, create(method.output, m))),
          responseDeserialize: (b: Buffer) => fromBinary(method.output, b),
        },
      },
      {
        [method.localName]: (_call: unknown, callback: grpc.sendUnaryData<Record<string, unknown>>) => {
          const n = (attempts.get(method.name) ?? 0) + 1;
          attempts.set(method.name, n);
          if (n <= failures) callback({ code: grpc.status.UNAVAILABLE, details: "restarting" });
          else callback(null, reply);
        },
      },
    );
  }
  const port = await new Promise<number>((resolve, reject) =>
    server!.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, attempts };
}

describe("the crypto client's retry policy", () => {
  it("retries an idempotent call on UNAVAILABLE and counts it once, as it ended", async () => {
    const { address, attempts } = await peer([
      { method: CryptoService.method.decrypt, failures: 2, reply: { plaintext: Buffer.from("secret-value") } },
    ]);
    const calls: string[] = [];
    const client = createCryptoClient({
      address,
      token: "t",
      timeoutMs: 5000,
      logger: captureLogs().logger,
      onCall: (method, code) => calls.push(`${method}:${code}`),
    });
    try {
      expect(await client.decrypt("0123456789abcdef01234567", "rec", "key", "cvw:v1:AAAA")).toBe("secret-value");
      expect(attempts.get("Decrypt")).toBe(3);
      expect(calls).toEqual(["Decrypt:ok"]);
    } finally {
      client.close();
    }
  });

  it("does not retry Encrypt, and gives up on a lasting outage as unavailable", async () => {
    const { address, attempts } = await peer([
      { method: CryptoService.method.encrypt, failures: 1, reply: { ciphertext: "cvw:v1:AAAA", keyVersion: 1 } },
      { method: CryptoService.method.decrypt, failures: 100, reply: {} },
    ]);
    const calls: string[] = [];
    const client = createCryptoClient({
      address,
      token: "t",
      timeoutMs: 5000,
      logger: captureLogs().logger,
      onCall: (method, code) => calls.push(`${method}:${code}`),
    });
    try {
      await expect(client.encrypt("0123456789abcdef01234567", "rec", "key", "plain")).rejects.toMatchObject({
        code: "unavailable",
      });
      expect(attempts.get("Encrypt")).toBe(1);
      await expect(client.decrypt("0123456789abcdef01234567", "rec", "key", "cvw:v1:AAAA")).rejects.toMatchObject({
        code: "unavailable",
      });
      expect(attempts.get("Decrypt")).toBe(3);
      expect(calls).toEqual(["Encrypt:unavailable", "Decrypt:unavailable"]);
    } finally {
      client.close();
    }
  });
});
