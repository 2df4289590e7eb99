// The environment variables of key validation. The wallet's own config schema can spread
// `providerConfigShape` into its one zod object (one parse, one ConfigError naming every bad
// variable), or call `loadProviderConfig(env)` on its own.
import { env as envField, loadConfig } from "@cv-wallet/common/config";
import { z } from "zod";
import { PROVIDERS } from "./registry.ts";

/** `WALLET_PROVIDER_<ID>_BASE_URL` for a provider id. */
export function baseUrlVariable(providerId: string): string {
  return `WALLET_PROVIDER_${providerId.toUpperCase()}_BASE_URL`;
}

// The operator's override of a built-in provider's base URL (a proxy, or a local server in
// tests). Trusted: it may be http and may name a loopback or private address.
const baseUrlOverride = () =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === "") return undefined;
      let url: URL;
      try {
        url = new URL(v.trim());
      } catch {
        ctx.addIssue({ code: "custom", message: "must be an absolute http(s) URL, e.g. https://proxy.example/openai" });
        return z.NEVER;
      }
      if (url.protocol !== "https:" && url.protocol !== "http:") {
        ctx.addIssue({ code: "custom", message: "must be an http or https URL" });
        return z.NEVER;
      }
      if (url.username || url.password || url.search || url.hash) {
        ctx.addIssue({ code: "custom", message: "must not carry credentials, a query string or a fragment" });
        return z.NEVER;
      }
      return url.href.replace(/\/+$/, "");
    });

const BUILT_IN = PROVIDERS.filter((p) => p.id !== "custom");

/** The zod fields (keyed by variable name) for key validation. */
export const providerConfigShape = {
  ...Object.fromEntries(BUILT_IN.map((p) => [baseUrlVariable(p.id), baseUrlOverride()])),
  WALLET_ALLOW_PRIVATE_BASE_URLS: envField.boolean(false),
  /** How old a key's last check may get before the scheduler checks it again; 0 turns the schedule off. */
  WALLET_VALIDATE_INTERVAL: envField.interval("24h"),
} as const;

export interface ProviderConfig {
  /** Provider id → operator base URL (no trailing slash), only for the variables that are set. */
  baseUrlOverrides: Record<string, string>;
  allowPrivateBaseUrls: boolean;
  /** 0 when the schedule is off. */
  validateIntervalMs: number;
}

/** Picks the key-validation settings out of an already parsed config object (keys are variable names). */
export function providerConfigFrom(parsed: Record<string, unknown>): ProviderConfig {
  const baseUrlOverrides: Record<string, string> = {};
  for (const p of BUILT_IN) {
    const value = parsed[baseUrlVariable(p.id)];
    if (typeof value === "string") baseUrlOverrides[p.id] = value;
  }
  return {
    baseUrlOverrides,
    allowPrivateBaseUrls: parsed.WALLET_ALLOW_PRIVATE_BASE_URLS === true,
    validateIntervalMs: typeof parsed.WALLET_VALIDATE_INTERVAL === "number" ? parsed.WALLET_VALIDATE_INTERVAL : 0,
  };
}

/** Reads the key-validation variables from `env`; a bad value is a ConfigError naming the variable. */
export function loadProviderConfig(env: Record<string, string | undefined> = process.env): ProviderConfig {
  return providerConfigFrom(loadConfig(z.object(providerConfigShape), env) as Record<string, unknown>);
}
