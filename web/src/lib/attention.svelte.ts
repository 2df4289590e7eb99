// Keys that need attention (expired, expiring within 14 days, invalid or out of quota), for
// the reminder banner and the count in the navigation. Refreshed whenever a page lists keys.
import type { ApiKey } from "@cv-wallet/proto/wallet/v1";
import { wallet } from "./api/client.ts";
import { type AttentionSummary, attentionSummary } from "./format/keylist.ts";

class Attention {
  summary = $state<AttentionSummary>({ total: 0, expired: 0, expiringSoon: 0, invalid: 0 });

  /** From a full key list the page already has. */
  set(keys: readonly ApiKey[]): void {
    this.summary = attentionSummary(
      keys.map((k) => ({ status: k.validation?.status, expiresInDays: k.expiresInDays })),
    );
  }

  /** Asks the wallet (pages that do not list keys themselves). */
  async refresh(): Promise<void> {
    try {
      const res = await wallet().listKeys({ needsAttention: true, pageSize: 500 });
      this.set(res.keys);
    } catch {
      // The count is a reminder; the keys page shows loading errors.
    }
  }

  reset(): void {
    this.summary = { total: 0, expired: 0, expiringSoon: 0, invalid: 0 };
  }
}

export const attention = new Attention();
