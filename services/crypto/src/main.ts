// Composition root: configuration → serve() (which opens the store, the key-encryption key
// and the keyring, and listens) → signals. Nothing imports this file.
import { ConfigError } from "@cv-wallet/common/config";
import { createLogger } from "@cv-wallet/common/logger";
import { onShutdown } from "@cv-wallet/common/shutdown";
import { type CryptoConfig, loadConfig } from "./config.ts";
import { serve } from "./serve.ts";

let config: CryptoConfig;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`crypto service: ${error.message}`);
  process.exit(2);
}

const logger = createLogger({ service: "crypto", level: config.logLevel });
try {
  const server = await serve({ ...config, logger });
  onShutdown(logger, () => server.stop(), config.shutdownGraceMs + 2_000);
} catch (err) {
  logger.fatal({ err }, "crypto service failed to start");
  logger.flush?.();
  process.exitCode = 1;
}
