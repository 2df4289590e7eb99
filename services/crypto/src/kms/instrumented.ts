// Counts and times every key-encryption-key call, without touching what passes through.
import type { CryptoMetrics } from "../metrics.ts";
import type { KekProvider } from "./kek-provider.ts";

export function instrument(kek: KekProvider, metrics: CryptoMetrics): KekProvider {
  const timed = async <T>(operation: string, call: () => Promise<T>): Promise<T> => {
    const end = metrics.kmsSeconds.startTimer({ kms: kek.kind, operation });
    try {
      const result = await call();
      metrics.kmsCalls.inc({ kms: kek.kind, operation, outcome: "ok" });
      return result;
    } catch (error) {
      metrics.kmsCalls.inc({ kms: kek.kind, operation, outcome: "error" });
      throw error;
    } finally {
      end();
    }
  };
  return {
    kind: kek.kind,
    currentKeyId: () => kek.currentKeyId(),
    check: () => timed("check", () => kek.check()),
    generateDataKey: (context) => timed("generate_data_key", () => kek.generateDataKey(context)),
    decrypt: (wrapped, context, keyId) => timed("decrypt", () => kek.decrypt(wrapped, context, keyId)),
    rewrap: (wrapped, context, keyId) => timed("rewrap", () => kek.rewrap(wrapped, context, keyId)),
    close: () => kek.close?.(),
  };
}
