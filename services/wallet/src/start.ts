// The wallet put together: stores → crypto client → key checker → handler → listeners. main.ts
// runs this with the configuration it read; tests and other workspaces run it with a data dir,
// the crypto service's address and whatever they override (every other setting is
// config.ts's default), usually on port 0.
import { createLogger, type Logger } from "@cv-wallet/common/logger";
import { createWalletHandler } from "./app.ts";
import { createKeyChecker } from "./checks/checker.ts";
import type { ProviderConfig } from "./checks/config.ts";
import { checkBaseUrlForm } from "./checks/url-safety.ts";
import { createCryptoClient } from "./clients/crypto.ts";
import { createWebhookSender } from "./clients/webhook.ts";
import { configDefaults, type WalletConfig } from "./config.ts";
import type { WalletDeps } from "./domain/deps.ts";
import { scheduledCheck } from "./domain/keys.ts";
import { OncePer } from "./domain/limits.ts";
import type { CheckResult, KeyChecker } from "./domain/ports/key-check.ts";
import { type ReminderRun, remindAfterCheck, sendDueReminders } from "./domain/reminders.ts";
import { createLimiters, ensureLimitIndexes } from "./limits/limiters.ts";
import { createMetrics, type WalletMetrics } from "./metrics.ts";
import { serve } from "./serve.ts";
import { guardStore } from "./store/guard.ts";
import { openMongoStore } from "./store/mongo/mongo-store.ts";
import type { KeyRecord, Store } from "./store/port.ts";
import { openSqliteStore } from "./store/sqlite/sqlite-store.ts";

/** What startWallet needs: a data dir and the crypto service; everything else has a default. */
export type StartWalletOptions = Partial<Omit<WalletConfig, "crypto" | "providers">> & {
  dataDir: string;
  crypto: { address: string; token: string; timeoutMs?: number; tls?: WalletConfig["crypto"]["tls"] };
  providers?: Partial<ProviderConfig>;
  /** Defaults to a JSON logger on stdout at logLevel. */
  logger?: Logger;
  /** Replaces the provider checker (the real one calls provider APIs or their base URL overrides). */
  checker?: KeyChecker;
  /** The device sign-in's clock (tests move it to expire codes); defaults to the system clock. */
  clock?: () => Date;
};

export interface RunningWallet {
  /** http://host:port of REST, Connect and the UI. */
  url: string;
  /** host:port of the gRPC (HTTP/2) listener, when grpcAddr was set. */
  grpcAddress?: string | undefined;
  /** http://host:port serving GET /metrics, when metricsAddr was set. */
  metricsUrl?: string | undefined;
  store: Store;
  metrics: WalletMetrics;
  /** For the validation scheduler (main.ts): keys due for a check, and one check. */
  revalidation: {
    listDue(olderThan: Date, limit: number): Promise<(KeyRecord & { ownerId: string })[]>;
    runCheck(key: KeyRecord): Promise<CheckResult>;
  };
  /** Deletes audit events past the retention now (also run hourly); returns how many. */
  pruneAudit(): Promise<number>;
  /**
   * Expiry reminders (also run every reminderIntervalMs): sends those due at `now` and resolves
   * when their deliveries, retries included, are done.
   */
  reminders: { run(now?: Date): Promise<ReminderRun> };
  /** Stops accepting, finishes in-flight requests, closes the crypto channel and the store. */
  stop(): Promise<void>;
}

export async function startWallet(options: StartWalletOptions): Promise<RunningWallet> {
  const defaults = configDefaults();
  const config = {
    ...defaults,
    ...options,
    crypto: { ...defaults.crypto, ...options.crypto },
    providers: { ...defaults.providers, ...options.providers },
  };
  const logger = options.logger ?? createLogger({ service: "wallet", level: config.logLevel });
  const metrics = createMetrics();
  const mongo = config.mongodbUri
    ? await openMongoStore(config.mongodbUri, logger, { auditRetentionDays: config.auditRetentionDays })
    : undefined;
  if (mongo) await ensureLimitIndexes(mongo.db, logger);
  const store: Store = guardStore(mongo ?? openSqliteStore(config.dataDir), logger);
  const limiters = createLimiters(
    { retrievalsPerMinute: config.retrievalRateLimitPerMinute, signUpsPerHour: config.signUpRateLimitPerHour },
    mongo?.db,
  );
  const crypto = createCryptoClient({ ...config.crypto, logger, onCall: metrics.cryptoCall });
  const deps: WalletDeps = {
    store,
    crypto,
    logger,
    checker:
      options.checker ??
      createKeyChecker({
        baseUrlOverrides: config.providers.baseUrlOverrides,
        allowPrivateBaseUrls: config.providers.allowPrivateBaseUrls,
        logger,
      }),
    assertSafeBaseUrl: async (url) => checkBaseUrlForm(url, { allowPrivate: config.providers.allowPrivateBaseUrls }),
    webhooks: createWebhookSender({
      allowPrivate: config.providers.allowPrivateBaseUrls,
      retryDelaysMs: config.webhookRetryDelaysMs,
      logger,
    }),
    settings: {
      publicUrl: config.publicUrl,
      sessionTtlMs: config.sessionTtlMs,
      deviceCodeTtlMs: config.deviceCodeTtlMs,
      devicePollIntervalSeconds: config.devicePollIntervalSeconds,
    },
    limits: {
      ...limiters,
      metadataAudit: new OncePer(60 * 60_000),
    },
    clock: options.clock,
    onRetrieval: metrics.retrieval,
    onWebhookDelivery: metrics.webhookDelivery,
  };
  const handler = createWalletHandler({ deps, metrics, settings: config });
  let serving: Awaited<ReturnType<typeof serve>>;
  try {
    serving = await serve(handler, config);
  } catch (error) {
    crypto.close();
    await store.close();
    throw error;
  }
  const { url, grpcAddress, metricsUrl } = serving;
  logger.info({ url, grpcAddress, metricsUrl, store: store.kind }, "wallet listening");

  const pruneAudit = async () => {
    if (config.auditRetentionDays <= 0) return 0;
    const before = new Date(Date.now() - config.auditRetentionDays * 86_400_000);
    const pruned = await store.audit.prune(before);
    if (pruned > 0) logger.info({ pruned, retentionDays: config.auditRetentionDays }, "audit events pruned");
    return pruned;
  };
  // Hourly, first a minute after start; never keeps the process alive on its own.
  const runPrune = () =>
    void pruneAudit().catch((err: unknown) => logger.warn({ err }, "audit prune failed; retrying next hour"));
  const firstPrune = setTimeout(runPrune, 60_000);
  const prunes = setInterval(runPrune, 3_600_000);
  firstPrune.unref();
  prunes.unref();

  // Expiry reminders on their own timer; a sweep still running when the next is due is joined,
  // not doubled (the store's claims would keep a second one from sending twice anyway).
  let sweeping: Promise<ReminderRun> | undefined;
  const runReminders = (now?: Date) => {
    sweeping ??= sendDueReminders(deps, now).finally(() => {
      sweeping = undefined;
    });
    return sweeping;
  };
  const sweepInBackground = () =>
    void runReminders().catch((err: unknown) =>
      logger.warn({ errorName: (err as Error)?.name }, "reminder sweep failed; retrying at the next interval"),
    );
  // First a minute after start (a wallet restarted more often than the interval still sweeps).
  const reminderTimers =
    config.reminderIntervalMs > 0
      ? [
          setTimeout(sweepInBackground, Math.min(60_000, config.reminderIntervalMs)),
          setInterval(sweepInBackground, config.reminderIntervalMs),
        ]
      : [];
  for (const t of reminderTimers) t.unref();

  let stopped: Promise<void> | undefined;
  return {
    url,
    grpcAddress,
    metricsUrl,
    store,
    metrics,
    revalidation: {
      listDue: async (olderThan, limit) =>
        (await store.keys.dueForValidation(olderThan, limit)).map((k) => ({ ...k, ownerId: k.userId })),
      runCheck: async (key) => {
        const v = await scheduledCheck(deps, key);
        await remindAfterCheck(deps, key, v);
        return {
          status: v.status,
          detail: v.detail,
          checkedAt: v.checkedAt ?? new Date(),
          retryAfterSeconds: v.retryAfterSeconds,
        };
      },
    },
    pruneAudit,
    reminders: { run: runReminders },
    stop: () => {
      stopped ??= (async () => {
        clearTimeout(firstPrune);
        clearInterval(prunes);
        for (const t of reminderTimers) clearTimeout(t);
        // A delivery may be waiting out its back-off: give it a moment, not the whole retry
        // schedule (an orchestrator's grace period is shorter). An unsent reminder stays claimed.
        if (sweeping) await Promise.race([sweeping.catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
        await serving.close();
        crypto.close();
        await store.close();
        logger.info("wallet stopped");
      })();
      return stopped;
    },
  };
}
