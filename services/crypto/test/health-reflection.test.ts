import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { healthClient, reflect } from "./support/grpc-clients.ts";
import { startHarness } from "./support/harness.ts";

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
