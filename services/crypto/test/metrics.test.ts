import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { codeOf, startHarness, utf8 } from "./support/harness.ts";

describe("metrics", () => {
  it("counts RPCs by method and code, cache hits and misses, KMS calls, process metrics; no tenant or secret in any label", async () => {
    const h = await startHarness({ metricsAddress: "127.0.0.1:0" });
    try {
      const listening = h.logs.entries().find((e) => e.msg === "crypto service listening")!;
      const sealed = await h.client.encrypt(
        { keyName: "user/metric-tenant", plaintext: utf8("sk-metric-secret"), context: utf8("c") },
        h.auth,
      );
      await h.client.decrypt(
        { keyName: "user/metric-tenant", ciphertext: sealed.ciphertext, context: utf8("c") },
        h.auth,
      );
      expect(
        await codeOf(
          h.client.decrypt(
            { keyName: "user/metric-tenant", ciphertext: sealed.ciphertext, context: utf8("x") },
            h.auth,
          ),
        ),
      ).toBe(grpc.status.INVALID_ARGUMENT);
      const text = await (await fetch(`http://${String(listening.metricsAddress)}/metrics`)).text();
      // One value of `name` whose labels include every given pair (label order is not part of the format).
      const sample = (name: string, labels: Record<string, string> = {}) =>
        text
          .split("\n")
          .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
          .find((l) => Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
          ?.split(" ")
          .at(-1);
      expect(sample("cvw_crypto_rpc_calls_total", { method: "Encrypt", code: "ok" })).toBe("1");
      expect(sample("cvw_crypto_rpc_calls_total", { method: "Decrypt", code: "invalid_argument" })).toBe("1");
      expect(sample("cvw_crypto_rpc_duration_seconds_count", { method: "Decrypt", code: "ok" })).toBe("1");
      expect(
        sample("cvw_crypto_kms_calls_total", { kms: "local", operation: "generate_data_key", outcome: "ok" }),
      ).toBe("1");
      expect(Number(sample("cvw_crypto_dek_cache_hits_total"))).toBeGreaterThanOrEqual(0);
      expect(sample("cvw_crypto_dek_cache_entries")).toBe("1");
      // Status codes are lower-case snake names only.
      expect(text).not.toMatch(/code="[A-Z]/);
      // Node's default process metrics under their standard names, and every series says which service.
      for (const name of [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "nodejs_heap_size_used_bytes",
      ]) {
        expect(sample(name, { service: "crypto" }), name).toBeDefined();
      }
      const series = text.split("\n").filter((l) => l && !l.startsWith("#"));
      expect(series.filter((l) => !l.includes('service="crypto"'))).toEqual([]);
      expect(text).not.toContain("metric-tenant");
      expect(text).not.toContain("sk-metric-secret");
      expect(text).not.toContain(h.token);
    } finally {
      await h.stop();
    }
  });
});
