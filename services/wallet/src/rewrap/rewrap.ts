// Re-wrap at scale, the operator command (deploy/RUNBOOK.md, "Rotate tenant keys" and
// "Change the KMS key"); `npm run rewrap -w services/wallet -- <command>` or, from the
// repository root and in the wallet image, `node deploy/tools/rewrap.ts <command>`:
//
//   rewrap records [--batch 200] [--concurrency 8] [--state FILE] [--raise-min] [--restart]
//   rewrap keyring [--page-size 200] [--state FILE] [--restart]
//
// `records` walks every wallet key record in id order, a batch at a time, and re-encrypts
// each one that is below its tenant's latest key version through crypto's Rewrap (the
// plaintext never leaves the crypto service), then stores the new ciphertext with a
// compare-and-set on the old one (a record a user re-saved meanwhile is left as they wrote it:
// it is already on the latest version). Then it walks every person's reminder webhook the same
// way, in user id order (its URL is encrypted under the person's tenant key, context
// `<webhookId>/webhook_url`). With --raise-min it then raises each tenant key's
// min_decryption_version to its latest version, but only for tenants with no record and no
// webhook left below it, so nothing still in use becomes undecryptable.
//
// `keyring` re-wraps every stored data key under the crypto service's current KMS key
// (after KMS_KEY_ID changed and the crypto service restarted with both keys usable), a page
// at a time through RewrapDataKeys.
//
// Both are resumable and idempotent: the position is checkpointed to the state file after
// every batch (default ./cv-wallet-rewrap-<command>.json); after a crash or Ctrl-C the same
// command continues from there, and a record or DEK already current is left alone. Progress
// goes to stderr, one line per batch; a JSON summary goes to stdout at the end. Exit 0 when
// everything is current, 1 when some records or webhooks failed (listed), 2 on bad
// usage/configuration.
//
// Configuration, from the environment (the same variables the wallet reads):
//   CRYPTO_GRPC_ADDR, CRYPTO_SERVICE_TOKEN or CRYPTO_SERVICE_TOKEN_FILE,
//   CRYPTO_TLS_CA_FILE (+ CRYPTO_TLS_CERT_FILE / CRYPTO_TLS_KEY_FILE for mTLS),
//   MONGODB_URI (the wallet's database) or else WALLET_DATA_DIR (its SQLite file, wallet.db).
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { forEachLimit } from "@cv-wallet/common/concurrency";
import { createClient, type UnaryClient } from "@cv-wallet/common/grpc";
import { createLogger } from "@cv-wallet/common/logger";
import { CryptoService } from "@cv-wallet/proto/crypto/v1";
import * as grpc from "@grpc/grpc-js";
import pino from "pino";
import {
  encryptionContext,
  KEY_FIELD,
  keyNameOf,
  teamIdOfTeamKey,
  tenantKeyName,
  userIdOfTenantKey,
  WEBHOOK_FIELD,
} from "../domain/key-names.ts";
import { openMongoStore } from "../store/mongo/mongo-store.ts";
import type { Store, StoredCiphertext, StoredWebhookCiphertext } from "../store/port.ts";
import { openSqliteStore } from "../store/sqlite/sqlite-store.ts";

type Crypto = UnaryClient<typeof CryptoService>;

export interface RewrapEnv {
  CRYPTO_GRPC_ADDR?: string | undefined;
  CRYPTO_SERVICE_TOKEN?: string | undefined;
  CRYPTO_SERVICE_TOKEN_FILE?: string | undefined;
  CRYPTO_TLS_CA_FILE?: string | undefined;
  CRYPTO_TLS_CERT_FILE?: string | undefined;
  CRYPTO_TLS_KEY_FILE?: string | undefined;
  MONGODB_URI?: string | undefined;
  WALLET_DATA_DIR?: string | undefined;
}

/** The people's reminder webhooks, counted as the key records are. */
export interface WebhooksSummary {
  scanned: number;
  rewrapped: number;
  alreadyCurrent: number;
  /** Replaced or removed by their owner between read and write: left as they are. */
  changedConcurrently: number;
  /** `id` is the webhook's id, `userId` its owner's. */
  failed: { id: string; userId: string; reason: string }[];
}

export interface RecordsSummary {
  command: "records";
  /** The key records (the fields at the top level, as before webhooks were covered). */
  scanned: number;
  rewrapped: number;
  alreadyCurrent: number;
  /** Changed by a user between read and write: left as written (already on the latest version). */
  changedConcurrently: number;
  failed: { id: string; userId: string; reason: string }[];
  webhooks: WebhooksSummary;
  minRaised: { keyName: string; to: number }[];
  minNotRaised: { keyName: string; reason: string }[];
  resumedFrom?: string | undefined;
  seconds: number;
}

export interface KeyringSummary {
  command: "keyring";
  rewrapped: number;
  unchanged: number;
  pages: number;
  wrappingKeyId: string;
  resumed: boolean;
  seconds: number;
}

interface RecordsState {
  command: "records";
  /** The last key record done. */
  cursor: string;
  /** "webhooks" once every key record is done; absent in state files written before webhooks were covered. */
  phase?: "keys" | "webhooks";
  /** The user id of the last webhook done. */
  webhookCursor?: string;
  totals: Omit<RecordsSummary, "command" | "minRaised" | "minNotRaised" | "resumedFrom" | "seconds" | "webhooks"> & {
    webhooks?: WebhooksSummary;
  };
}

type Tally = Pick<WebhooksSummary, "rewrapped" | "alreadyCurrent" | "changedConcurrently" | "failed">;
interface KeyringState {
  command: "keyring";
  pageToken: string;
  totals: { rewrapped: number; unchanged: number; pages: number };
}

export class UsageError extends Error {}

const RETRYABLE = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.RESOURCE_EXHAUSTED]);

function connect(env: RewrapEnv): { crypto: Crypto; metadata: grpc.Metadata; close(): void } {
  let token = env.CRYPTO_SERVICE_TOKEN;
  if (!token && env.CRYPTO_SERVICE_TOKEN_FILE) token = readFileSync(env.CRYPTO_SERVICE_TOKEN_FILE, "utf8").trim();
  if (!token) throw new UsageError("set CRYPTO_SERVICE_TOKEN or CRYPTO_SERVICE_TOKEN_FILE");
  const address = env.CRYPTO_GRPC_ADDR ?? "127.0.0.1:50051";
  const credentials = env.CRYPTO_TLS_CA_FILE
    ? grpc.credentials.createSsl(
        readFileSync(env.CRYPTO_TLS_CA_FILE),
        env.CRYPTO_TLS_KEY_FILE ? readFileSync(env.CRYPTO_TLS_KEY_FILE) : null,
        env.CRYPTO_TLS_CERT_FILE ? readFileSync(env.CRYPTO_TLS_CERT_FILE) : null,
      )
    : grpc.credentials.createInsecure();
  const channel = new grpc.Client(address, credentials, {
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 2000,
  });
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return { crypto: createClient(CryptoService, channel), metadata, close: () => channel.close() };
}

/** Retries calls the crypto service could not take right now; other errors are the caller's. */
async function withRetry<T>(run: () => Promise<T>, attempts = 6): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await run();
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (i + 1 >= attempts || code === undefined || !RETRYABLE.has(code)) throw error;
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** i)));
    }
  }
}

function readState<T extends { command: string }>(file: string, command: string): T | undefined {
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, "utf8")) as T;
  if (state.command !== command) throw new UsageError(`${file} is the state of "${state.command}", not "${command}"`);
  return state;
}

/** Written to a temporary name and renamed, so a crash never leaves half a state file. */
function writeState(file: string, state: object): void {
  const temp = `${file}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, file);
}

/** The wallet's store: MongoDB when MONGODB_URI is set, else the SQLite file in WALLET_DATA_DIR. */
async function openStore(env: RewrapEnv): Promise<Store> {
  // Progress and the summary own stdout; the store's own log lines go to stderr.
  const logger = createLogger({ service: "wallet-rewrap", level: "warn", destination: pino.destination(2) });
  if (env.MONGODB_URI) return openMongoStore(env.MONGODB_URI, logger);
  const dataDir = resolve(env.WALLET_DATA_DIR ?? "./data/wallet");
  // Never create an empty database by mistake: a wrong WALLET_DATA_DIR must fail loudly.
  if (!existsSync(join(dataDir, "wallet.db"))) {
    throw new Error(`WALLET_DATA_DIR: no wallet database at ${join(dataDir, "wallet.db")}`);
  }
  return openSqliteStore(dataDir);
}

const errorText = (error: unknown) => {
  const e = error as { code?: number; details?: string; message?: string };
  return e.code !== undefined ? `${grpc.status[e.code] ?? e.code}: ${e.details ?? ""}` : String(e.message ?? error);
};

export interface RunOptions {
  env: RewrapEnv;
  stateFile: string;
  batch?: number;
  concurrency?: number;
  raiseMin?: boolean;
  restart?: boolean;
  /** Progress lines (stderr by default). */
  log?: (line: string) => void;
  /** Stops after the current batch when aborted (SIGINT / SIGTERM); the state is kept. */
  signal?: AbortSignal;
}

export async function rewrapRecords(options: RunOptions): Promise<RecordsSummary> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const batch = options.batch ?? 200;
  const concurrency = options.concurrency ?? 8;
  const started = performance.now();
  if (options.restart) rmSync(options.stateFile, { force: true });
  const state = readState<RecordsState>(options.stateFile, "records");
  const empty = () => ({ scanned: 0, rewrapped: 0, alreadyCurrent: 0, changedConcurrently: 0, failed: [] });
  const totals: RecordsState["totals"] & { webhooks: WebhooksSummary } = {
    ...(state?.totals ?? empty()),
    webhooks: state?.totals.webhooks ?? empty(),
  };
  let cursor = state?.cursor ?? "";
  let phase = state?.phase ?? "keys";
  let webhookCursor = state?.webhookCursor ?? "";
  if (state && phase === "keys") {
    log(`[rewrap records] resuming after record ${cursor} (${totals.scanned} already scanned)`);
  }
  if (state && phase === "webhooks") {
    log(
      `[rewrap records] resuming with the webhooks${webhookCursor ? ` after user ${webhookCursor}` : ""} ` +
        `(all ${totals.scanned} records done, ${totals.webhooks.scanned} webhooks already scanned)`,
    );
  }
  const checkpoint = () =>
    writeState(options.stateFile, { command: "records", cursor, phase, webhookCursor, totals } satisfies RecordsState);

  const { crypto, metadata, close } = connect(options.env);
  const store = await openStore(options.env);
  const call = { metadata, timeoutMs: 15_000 };
  const latest = new Map<string, number | "missing">();
  // Keyed by the crypto key's name: a tenant's (user/<id>) or a team's (team/<id>).
  const latestOf = async (keyName: string): Promise<number | "missing"> => {
    let v = latest.get(keyName);
    if (v === undefined) {
      try {
        const info = await withRetry(() => crypto.getKeyInfo({ keyName }, call));
        v = info.key?.latestVersion ?? "missing";
      } catch (error) {
        if ((error as { code?: number }).code !== grpc.status.NOT_FOUND) throw error;
        v = "missing";
      }
      latest.set(keyName, v);
    }
    return v;
  };

  /**
   * Moves one ciphertext to its key's latest version through crypto's Rewrap and stores it with
   * the compare-and-set `replace`; counts the outcome in `tally`. A call crypto could not take
   * (after retries) stops the run, to be resumed; any other refusal is listed as failed.
   */
  const rewrapOne = async (
    tally: Tally,
    r: { id: string; userId: string; ciphertext: string; keyVersion: number },
    keyName: string,
    context: Buffer,
    replace: (next: { ciphertext: string; keyVersion: number }) => Promise<boolean>,
  ): Promise<void> => {
    const target = await latestOf(keyName);
    if (target === "missing") {
      tally.failed.push({ id: r.id, userId: r.userId, reason: "the tenant key does not exist (destroyed?)" });
      return;
    }
    if (r.keyVersion >= target) {
      tally.alreadyCurrent++;
      return;
    }
    try {
      const next = await withRetry(() => crypto.rewrap({ keyName, ciphertext: r.ciphertext, context }, call));
      if (!next.changed) {
        tally.alreadyCurrent++;
        return;
      }
      if (await replace({ ciphertext: next.ciphertext, keyVersion: next.keyVersion })) tally.rewrapped++;
      else tally.changedConcurrently++;
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code === undefined || RETRYABLE.has(code)) throw error; // the run stops; resume later
      tally.failed.push({ id: r.id, userId: r.userId, reason: errorText(error) });
    }
  };
  const interrupted = () => {
    if (!options.signal?.aborted) return false;
    log(`[rewrap records] interrupted; state kept in ${options.stateFile}, run again to continue`);
    return true;
  };

  try {
    while (phase === "keys" && !interrupted()) {
      const page: StoredCiphertext[] = await store.keys.pageCiphertexts(cursor, batch);
      if (page.length === 0) {
        phase = "webhooks";
        checkpoint();
        break;
      }
      await forEachLimit(page, concurrency, (r) =>
        rewrapOne(totals, r, keyNameOf(r), encryptionContext(r.id, KEY_FIELD), (next) =>
          store.keys.replaceCiphertext(r.id, r.ciphertext, next),
        ),
      );
      totals.scanned += page.length;
      cursor = page.at(-1)!.id;
      checkpoint();
      const rate = totals.scanned / ((performance.now() - started) / 1000);
      log(
        `[rewrap records] ${totals.scanned} scanned · ${totals.rewrapped} rewrapped · ${totals.alreadyCurrent} already current · ` +
          `${totals.changedConcurrently} changed meanwhile · ${totals.failed.length} failed · ${rate.toFixed(0)}/s`,
      );
    }

    // Each person's reminder webhook: its URL is encrypted under their tenant key like a key's
    // secret, and --raise-min must not strand it below the minimum.
    const hooks = totals.webhooks;
    while (phase === "webhooks" && !interrupted()) {
      const page: StoredWebhookCiphertext[] = await store.webhooks.pageCiphertexts(webhookCursor, batch);
      if (page.length === 0) break;
      await forEachLimit(page, concurrency, (w) =>
        rewrapOne(hooks, w, tenantKeyName(w.userId), encryptionContext(w.id, WEBHOOK_FIELD), (next) =>
          store.webhooks.replaceCiphertext(w.userId, w.ciphertext, next),
        ),
      );
      hooks.scanned += page.length;
      webhookCursor = page.at(-1)!.userId;
      checkpoint();
      log(
        `[rewrap records] webhooks: ${hooks.scanned} scanned · ${hooks.rewrapped} rewrapped · ${hooks.alreadyCurrent} already current · ` +
          `${hooks.changedConcurrently} changed meanwhile · ${hooks.failed.length} failed`,
      );
    }

    const summary: RecordsSummary = {
      command: "records",
      ...totals,
      minRaised: [],
      minNotRaised: [],
      resumedFrom: state?.cursor,
      seconds: 0,
    };
    const complete = !options.signal?.aborted;
    if (complete && options.raiseMin) await raiseMinimums(crypto, call, store, summary, log);
    if (complete) rmSync(options.stateFile, { force: true });
    summary.seconds = Number(((performance.now() - started) / 1000).toFixed(2));
    return summary;
  } finally {
    await store.close();
    close();
  }
}

/** Raises each tenant key's minimum to its latest version where no wallet record and no webhook is below it. */
async function raiseMinimums(
  crypto: Crypto,
  call: { metadata: grpc.Metadata; timeoutMs: number },
  store: Store,
  summary: RecordsSummary,
  log: (line: string) => void,
): Promise<void> {
  let pageToken = "";
  do {
    const page = await withRetry(() => crypto.listKeys({ pageSize: 500, pageToken }, call));
    for (const key of page.keys) {
      // A team's records are stored under the team's id, as a user's under the user's.
      const userId = userIdOfTenantKey(key.name) ?? teamIdOfTeamKey(key.name);
      if (userId === undefined) continue;
      const target = key.latestVersion;
      if (key.minDecryptionVersion >= target) continue;
      const below = await store.keys.countBelowVersion(userId, target);
      // Only a person has a reminder webhook (under their tenant key); a team key has none.
      const webhookBelow =
        key.name === tenantKeyName(userId) && (await store.webhooks.countBelowVersion(userId, target)) > 0;
      if (below > 0 || webhookBelow) {
        const what = [
          ...(below > 0 ? [`${below} record(s)`] : []),
          ...(webhookBelow ? ["the person's reminder webhook"] : []),
        ].join(" and ");
        const why = webhookBelow
          ? " (raising it now would make the webhook's URL undecryptable: reminders would stop)"
          : "";
        summary.minNotRaised.push({ keyName: key.name, reason: `${what} still below version ${target}${why}` });
        continue;
      }
      try {
        await withRetry(() =>
          crypto.setMinDecryptionVersion({ keyName: key.name, minDecryptionVersion: target }, call),
        );
        summary.minRaised.push({ keyName: key.name, to: target });
      } catch (error) {
        summary.minNotRaised.push({ keyName: key.name, reason: errorText(error) });
      }
    }
    pageToken = page.nextPageToken;
  } while (pageToken);
  log(
    `[rewrap records] min_decryption_version raised on ${summary.minRaised.length} key(s), ` +
      `left on ${summary.minNotRaised.length}`,
  );
}

export async function rewrapKeyring(options: Omit<RunOptions, "concurrency" | "raiseMin">): Promise<KeyringSummary> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const pageSize = options.batch ?? 200;
  const started = performance.now();
  if (options.restart) rmSync(options.stateFile, { force: true });
  const state = readState<KeyringState>(options.stateFile, "keyring");
  const totals = state?.totals ?? { rewrapped: 0, unchanged: 0, pages: 0 };
  let pageToken = state?.pageToken ?? "";
  if (state) log(`[rewrap keyring] resuming at page ${totals.pages + 1}`);
  const { crypto, metadata, close } = connect(options.env);
  let wrappingKeyId = "";
  try {
    for (;;) {
      if (options.signal?.aborted) {
        log(`[rewrap keyring] interrupted; state kept in ${options.stateFile}, run again to continue`);
        break;
      }
      const page = await withRetry(() =>
        crypto.rewrapDataKeys({ pageSize, pageToken }, { metadata, timeoutMs: 120_000 }),
      );
      totals.rewrapped += page.rewrapped;
      totals.unchanged += page.unchanged;
      totals.pages++;
      wrappingKeyId = page.wrappingKeyId;
      pageToken = page.nextPageToken;
      log(
        `[rewrap keyring] page ${totals.pages}: ${totals.rewrapped} data keys re-wrapped · ${totals.unchanged} already under ${wrappingKeyId}`,
      );
      if (!pageToken) break;
      writeState(options.stateFile, { command: "keyring", pageToken, totals } satisfies KeyringState);
    }
    if (!options.signal?.aborted) rmSync(options.stateFile, { force: true });
    return {
      command: "keyring",
      ...totals,
      wrappingKeyId,
      resumed: state !== undefined,
      seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
    };
  } finally {
    close();
  }
}

async function main(args: string[], invokedAs: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      batch: { type: "string" },
      "page-size": { type: "string" },
      concurrency: { type: "string", default: "8" },
      state: { type: "string" },
      "raise-min": { type: "boolean", default: false },
      restart: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const command = positionals[0];
  if (values.help || (command !== "records" && command !== "keyring")) {
    console.error(
      `usage: ${invokedAs} records [--batch N] [--concurrency N] [--state FILE] [--raise-min] [--restart]\n` +
        `       ${invokedAs} keyring [--page-size N] [--state FILE] [--restart]`,
    );
    return values.help ? 0 : 2;
  }
  const int = (name: string, v: string | undefined, fallback: number, max: number) => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${name} must be an integer from 1 to ${max}`);
    return n;
  };
  const abort = new AbortController();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`[rewrap] ${signal}: finishing the current batch, then stopping\n`);
      abort.abort();
    });
  }
  const stateFile = resolve(values.state ?? join(process.cwd(), `cv-wallet-rewrap-${command}.json`));
  const env = process.env as RewrapEnv;
  if (command === "records") {
    const summary = await rewrapRecords({
      env,
      stateFile,
      batch: int("batch", values.batch, 200, 1000),
      concurrency: int("concurrency", values.concurrency, 8, 64),
      raiseMin: values["raise-min"],
      restart: values.restart,
      signal: abort.signal,
    });
    console.log(JSON.stringify(summary));
    if (abort.signal.aborted) return 130;
    return summary.failed.length > 0 || summary.webhooks.failed.length > 0 ? 1 : 0;
  }
  const summary = await rewrapKeyring({
    env,
    stateFile,
    batch: int("page-size", values["page-size"], 200, 1000),
    restart: values.restart,
    signal: abort.signal,
  });
  console.log(JSON.stringify(summary));
  return abort.signal.aborted ? 130 : 0;
}

/** The command line: runs `args` and exits with the command's code. */
export function runRewrapCli(args: string[] = process.argv.slice(2), invokedAs = "rewrap"): void {
  main(args, invokedAs).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof UsageError) {
        console.error(`rewrap: ${error.message}`);
        process.exit(2);
      }
      console.error(`rewrap: stopped: ${errorText(error)} — run the same command again to resume`);
      process.exit(1);
    },
  );
}

if (import.meta.main) runRewrapCli(process.argv.slice(2), "npm run rewrap -w services/wallet --");
