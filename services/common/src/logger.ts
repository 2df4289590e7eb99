// Structured JSON logs (pino). Every field name that can hold a secret is redacted, at any
// of the first two levels of nesting, so a careless `log.info({ req })` cannot leak one.
import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger } from "pino";

const SECRET_FIELDS = [
  "password",
  "newPassword",
  "key",
  "apiKey",
  "plaintext",
  "secret",
  "token",
  "accessToken",
  "serviceToken",
  "authorization",
  "cookie",
  "set-cookie",
  "sessionId",
  "dek",
  "dataKey",
  "masterKey",
];

/** The redaction paths: each secret field at the top level and one or two levels down. */
const REDACT_PATHS: string[] = SECRET_FIELDS.flatMap((f) => {
  const p = /^[A-Za-z_$][\w$]*$/.test(f) ? f : `["${f}"]`;
  const dot = p.startsWith("[") ? p : `.${p}`;
  return [p, `*${dot}`, `*.*${dot}`];
});

export interface LoggerOptions {
  /** Service name, written as `service` on every line. */
  service: string;
  level?: string;
  /** Where lines go; defaults to stdout. Tests pass a stream to capture them. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
