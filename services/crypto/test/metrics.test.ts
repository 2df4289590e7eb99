import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { codeOf, startHarness, utf8 } from "./support/harness.ts";

describe("metrics", () => {
  it("counts RPCs by method and code, cache hits and misses, KMS calls; no tenant or secret in any label", async () => {
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
      expect(text).toMatch(/cvw_crypto_rpc_calls_total\{method="Encrypt",code="OK"\} 1/);
      expect(text).toMatch(/cvw_crypto_rpc_calls_total\{method="Decrypt",code="INVALID_ARGUMENT"\} 1/);
      expect(text).toMatch(/cvw_crypto_rpc_duration_seconds_count\{method="Decrypt",code="OK"\} 1/);
      expect(text).toMatch(
        /cvw_crypto_kms_calls_total\{provider="local",operation="generate_data_key",outcome="ok"\} 1/,
      );
      expect(text).toMatch(/cvw_crypto_dek_cache_hits_total \d+/);
      expect(text).toMatch(/cvw_crypto_dek_cache_entries 1/);
      expect(text).not.toContain("metric-tenant");
      expect(text).not.toContain("sk-metric-secret");
      expect(text).not.toContain(h.token);
    } finally {
      await h.stop();
    }
  });
});
