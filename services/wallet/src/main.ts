// The wallet's composition root: read the configuration, start the service (start.ts) and the
// key re-validation schedule, stop both gracefully on SIGTERM / SIGINT.
import { ConfigError } from "@cv-wallet/common/config";
import { createLogger } from "@cv-wallet/common/logger";
import { onShutdown } from "@cv-wallet/common/shutdown";
import { startValidationScheduler } from "./checks/scheduler.ts";
import { loadConfig } from "./config.ts";
import { startWallet } from "./start.ts";

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`wallet: ${error.message}`);
    process.exit(2);
  }
  throw error;
}

const logger = createLogger({ service: "wallet", level: config.logLevel });
let wallet: Awaited<ReturnType<typeof startWallet>>;
try {
  wallet = await startWallet({ ...config, logger });
} catch (err) {
  // e.g. MONGODB_URI set but MongoDB unreachable: say so and stop, never fall back to SQLite.
  logger.fatal({ err }, "wallet failed to start");
  logger.flush?.();
  process.exit(1);
}
const scheduler =
  config.providers.validateIntervalMs > 0
    ? startValidationScheduler({
        intervalMs: config.providers.validateIntervalMs,
        concurrencyPerProvider: 2,
        listDue: wallet.revalidation.listDue,
        runCheck: wallet.revalidation.runCheck,
        logger,
      })
    : undefined;
logger.info({ url: wallet.url, validateIntervalMs: config.providers.validateIntervalMs }, "wallet ready");

onShutdown(logger, async () => {
  await scheduler?.stop();
  await wallet.stop();
});
