import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { healthClient, reflect } from "./support/grpc-clients.ts";
import { codeOf, startHarness } from "./support/harness.ts";

const SERVICE = "cvwallet.crypto.v1.CryptoService";

describe("health and reflection (no credentials needed)", () => {
  it("reflection lists the crypto and health services and serves their descriptors", async () => {
    const h = await startHarness();
    try {
      const list = await reflect(h.server.address, { list_services: "" });
      const names = list.list_services_response!.service.map((s) => s.name);
      expect(names).toEqual(expect.arrayContaining([SERVICE, "grpc.health.v1.Health"]));
      expect(names.some((n) => n.startsWith("cvwallet.wallet"))).toBe(false);

      const files = await reflect(h.server.address, { file_containing_symbol: SERVICE });
      const decoded = files.file_descriptor_response!.file_descriptor_proto.map((b) =>
        fromBinary(FileDescriptorProtoSchema, b),
      );
      const crypto = decoded.find((f) => f.name === "cvwallet/crypto/v1/crypto.proto")!;
      expect(crypto.service[0]!.method.map((m) => m.name)).toContain("Encrypt");

      // What a client such as grpcurl or buf curl does next: fetch every import it was not
      // sent, then link the lot. Linking fails on dropped imports or unresolvable type names.
      const linked = new Map(decoded.map((f) => [f.name, f]));
      const missing = () => [...linked.values()].flatMap((f) => f.dependency).find((d) => !linked.has(d));
      for (let name = missing(); name; name = missing()) {
        const answer = await reflect(h.server.address, { file_by_filename: name });
        for (const b of answer.file_descriptor_response!.file_descriptor_proto) {
          const file = fromBinary(FileDescriptorProtoSchema, b);
          linked.set(file.name, file);
        }
      }
      const registry = createFileRegistry(linked.get(crypto.name)!, (name) => linked.get(name));
      expect(registry.getService(SERVICE)?.methods.map((m) => m.name)).toContain("RotateKey");

      const health = await reflect(h.server.address, { file_containing_symbol: "grpc.health.v1.Health" });
      const healthFile = fromBinary(
        FileDescriptorProtoSchema,
        health.file_descriptor_response!.file_descriptor_proto[0]!,
      );
      const healthRegistry = createFileRegistry(healthFile, () => undefined);
      expect(healthRegistry.getService("grpc.health.v1.Health")?.methods.map((m) => m.name)).toContain("Check");
    } finally {
      await h.stop();
    }
  });

  it("health is SERVING once ready and goes NOT_SERVING on shutdown", async () => {
    const h = await startHarness();
    const health = healthClient(h.server.address);
    try {
      expect(await health.check("")).toBe("SERVING");
      expect(await health.check(SERVICE)).toBe("SERVING");
      const watch = health.watch(SERVICE);
      await expect.poll(() => watch.seen).toEqual(["SERVING"]);
      await h.stop();
      expect(watch.seen).toEqual(["SERVING", "NOT_SERVING"]);
      watch.cancel();
    } finally {
      health.close();
      await h.stop();
    }
  });
});

describe("readiness with the local key provider", () => {
  it("stays NOT_SERVING, naming CRYPTO_MASTER_KEY_FILE, while the master key file is unsafe", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "cvw-crypto-ready-"));
    writeFileSync(join(dataDir, "master.key"), randomBytes(32), { mode: 0o644 });
    chmodSync(join(dataDir, "master.key"), 0o644);
    const h = await startHarness({ dataDir, readinessRetryMs: 50 });
    const health = healthClient(h.server.address);
    try {
      expect(h.server.isReady()).toBe(false);
      expect(await health.check(SERVICE)).toBe("NOT_SERVING");
      expect(await codeOf(h.client.encrypt({ keyName: "user/a", plaintext: new Uint8Array([1]) }, h.auth))).toBe(
        grpc.status.UNAVAILABLE,
      );
      const reasons = h.logs
        .entries()
        .filter((e) => e.msg === "crypto service not ready")
        .map((e) => String(e.reason));
      expect(reasons[0]).toMatch(/^CRYPTO_MASTER_KEY_FILE: .*chmod 600/);

      chmodSync(join(dataDir, "master.key"), 0o600);
      await h.server.whenReady();
      expect(await health.check(SERVICE)).toBe("SERVING");
    } finally {
      health.close();
      await h.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
