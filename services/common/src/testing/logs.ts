// Captures a logger's lines in memory so tests can assert what was (and was not) written.
import { Writable } from "node:stream";
import { createLogger, type Logger } from "../logger.ts";

export interface CapturedLogs {
  logger: Logger;
  /** Every line written so far, joined. */
  text(): string;
  /** Every line written so far, parsed. */
  entries(): Record<string, unknown>[];
}

export function captureLogs(service = "test", level = "debug"): CapturedLogs {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ service, level, destination });
  return {
    logger,
    text: () => lines.join("\n"),
    entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
