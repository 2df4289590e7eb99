// Configuration is read from the environment once, at start-up, through one zod schema per
// service. A bad value stops the process with a message naming the variable, never its value
// (the variable might hold a secret).
import { z } from "zod";

export class ConfigError extends Error {
  readonly variables: string[];
  constructor(problems: { variable: string; message: string }[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p.variable}: ${p.message}`).join("\n")}`);
    this.name = "ConfigError";
    this.variables = problems.map((p) => p.variable);
  }
}

/** Parses `env` with a schema whose keys are environment variable names; returns a frozen object. */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): Readonly<z.output<S>> {
  const result = schema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        variable: String(issue.path[0] ?? "(environment)"),
        message: issue.message,
      })),
    );
  }
  return Object.freeze(result.data);
}

/** Common field parsers for environment variables (which are always strings). */
export const env = {
  /** "host:port"; port may be 0 (tests). */
  address: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .refine((v) => /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(v) && Number(v.split(":").pop()) <= 65535, {
        message: "must be host:port, e.g. 127.0.0.1:8080",
      }),
  boolean: (fallback: boolean) =>
    z
      .enum(["true", "false", "1", "0", "yes", "no"], { message: "must be true or false" })
      .optional()
      .transform((v) => (v === undefined ? fallback : v === "true" || v === "1" || v === "yes")),
  integer: (fallback: number, min: number, max: number) =>
    z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (v === undefined || v === "") return fallback;
        const n = Number(v);
        if (!Number.isInteger(n) || n < min || n > max) {
          ctx.addIssue({ code: "custom", message: `must be a whole number from ${min} to ${max}` });
          return z.NEVER;
        }
        return n;
      }),
  /** A duration such as 500ms, 30s, 15m, 24h or 7d, in milliseconds. */
  duration: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((v, ctx) => {
        const ms = parseDuration(v);
        if (ms === undefined) {
          ctx.addIssue({ code: "custom", message: "must be a duration such as 30s, 15m, 24h or 7d" });
          return z.NEVER;
        }
        return ms;
      }),
  /** The interval of a periodic job: a duration of at least 1 s, or 0 / off (never, as 0). */
  interval: (fallback: string) =>
    z
      .string()
      .default(fallback)
      .transform((v, ctx) => {
        if (v.trim() === "0" || v.trim() === "off") return 0;
        const ms = parseDuration(v);
        if (ms === undefined || ms < 1000) {
          ctx.addIssue({
            code: "custom",
            message: "must be a duration of at least 1s, such as 15m, 24h or 7d (0 or off: never)",
          });
          return z.NEVER;
        }
        return ms;
      }),
  logLevel: () => z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  optionalString: () =>
    z
      .string()
      .optional()
      .transform((v) => (v === "" ? undefined : v)),
};

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

// Kept instead of `ms` / `parse-duration`: those read a bare number as milliseconds (an
// operator's WALLET_SESSION_TTL=3600 meaning an hour would become 3.6 s) and accept negative
// values, spaces and long unit names; a setting here must carry one of five units.
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}
