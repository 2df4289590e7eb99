// The wallet's own settings parsed from the environment: defaults, accepted forms and the
// refusals that name the variable (never its value).
import { ConfigError } from "@cv-wallet/common/config";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";

const base = { CRYPTO_SERVICE_TOKEN: "x".repeat(24) };

function refusal(env: Record<string, string>): string {
  try {
    loadConfig({ ...base, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("accepted");
}

describe("wallet configuration", () => {
  it("sweeps reminders hourly by default; a duration, or 0/off for never", () => {
    expect(loadConfig(base).reminderIntervalMs).toBe(3_600_000);
    expect(loadConfig({ ...base, WALLET_REMINDER_INTERVAL: "15m" }).reminderIntervalMs).toBe(900_000);
    expect(loadConfig({ ...base, WALLET_REMINDER_INTERVAL: "off" }).reminderIntervalMs).toBe(0);
    expect(loadConfig({ ...base, WALLET_REMINDER_INTERVAL: "0" }).reminderIntervalMs).toBe(0);
    for (const bad of ["500ms", "hourly", "-1h", "3600"]) {
      const message = refusal({ WALLET_REMINDER_INTERVAL: bad });
      expect(message).toContain("WALLET_REMINDER_INTERVAL");
      expect(message).not.toContain(bad === "-1h" ? "-1h" : `"${bad}"`);
    }
  });

  it("gives a client 15 s to send a request by default, 1 s to 1 h when set", () => {
    expect(loadConfig(base).requestTimeoutMs).toBe(15_000);
    expect(loadConfig({ ...base, WALLET_REQUEST_TIMEOUT: "30s" }).requestTimeoutMs).toBe(30_000);
    for (const bad of ["0s", "500ms", "2h", "soon"]) {
      expect(refusal({ WALLET_REQUEST_TIMEOUT: bad })).toContain("WALLET_REQUEST_TIMEOUT");
    }
  });
});
