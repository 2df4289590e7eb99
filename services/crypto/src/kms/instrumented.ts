// Counts and times every key provider call, without touching what passes through.
import type { CryptoMetrics } from "../metrics.ts";
import type { KeyProvider } from "./provider.ts";

export function instrument(provider: KeyProvider, metrics: CryptoMetrics): KeyProvider {
  const timed = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    const end = metrics.kmsSeconds.startTimer({ provider: provider.kind, operation });
    try {
      const result = await call();
      metrics.kmsCalls.inc({ provider: provider.kind, operation, outcome: "ok" });
      return result;
    } catch (error) {
      metrics.kmsCalls.inc({ provider: provider.kind, operation, outcome: "error" });
      throw error;
    } finally {
      end();
    }
  };
  return {
    kind: provider.kind,
    currentKeyId: () => provider.currentKeyId(),
    check: () => timed("check", () => provider.check()),
    generateDataKey: (context) => timed("generate_data_key", () => provider.generateDataKey(context)),
    decrypt: (wrapped, context, keyId) => timed("decrypt", () => provider.decrypt(wrapped, context, keyId)),
    rewrap: (wrapped, context, keyId) => timed("rewrap", () => provider.rewrap(wrapped, context, keyId)),
    close: () => provider.close?.(),
  };
}
