// Which real server a suite ran against, said out loud: on the console and in
// .reports/servers.txt, which `npm test` prints at the end next to the skips. Also where a
// suite names a way the server it ran on differs from the one production uses (FerretDB for
// MongoDB, moto for AWS KMS), so a difference is never silently papered over.
import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { reportSkip } from "./skips.ts";

function append(file: string, line: string): void {
  const dir = join(process.cwd(), ".reports");
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, file), `${line}\n`);
}

/** `suite` runs against `server` (e.g. "MongoDB: FerretDB v1.24.2 (SQLite backend) at 127.0.0.1:40123"). */
export function reportServer(suite: string, server: string): void {
  console.log(`[server] ${suite}: ${server}`);
  append("servers.txt", `${suite}: ${server}`);
}

/** A behaviour of the test server that production's server does not share, and what the suite did about it. */
export function reportDifference(suite: string, difference: string): void {
  console.log(`[difference] ${suite}: ${difference}`);
  append("differences.txt", `${suite}: ${difference}`);
}

export interface KmsForTests {
  /** The KMS endpoint (AWS_ENDPOINT_URL_KMS). */
  endpoint: string;
  region: string;
  /** Which implementation, for the test log. */
  source: string;
}

/**
 * An AWS KMS implementation other than the project's own loopback fake: the one
 * `scripts/test-servers.sh up` started (moto), or whatever AWS_ENDPOINT_URL_KMS points at.
 * Undefined, with the skip reported, when there is none.
 */
export function kmsForTests(suite: string): KmsForTests | undefined {
  const endpoint = process.env.AWS_ENDPOINT_URL_KMS;
  if (!endpoint) {
    reportSkip(
      suite,
      process.env.CVW_TEST_KMS_SKIP ??
        "no KMS endpoint: AWS_ENDPOINT_URL_KMS is not set (scripts/test-servers.sh up starts moto and sets it)",
    );
    return undefined;
  }
  const source = process.env.CVW_TEST_KMS ?? `AWS_ENDPOINT_URL_KMS=${endpoint}`;
  reportServer(suite, `AWS KMS: ${source}`);
  return { endpoint, region: process.env.AWS_REGION ?? "us-east-1", source };
}
