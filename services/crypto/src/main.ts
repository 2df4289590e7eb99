// Composition root: configuration, the server, signals. Everything else is in server.ts.
import { ConfigError } from "@cv-wallet/common/config";
import { createLogger } from "@cv-wallet/common/logger";
import { onShutdown } from "@cv-wallet/common/shutdown";
import { loadCryptoConfig } from "./config.ts";
import { startCryptoServer } from "./server.ts";

let config: ReturnType<typeof loadCryptoConfig>;
try {
  config = loadCryptoConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`crypto service: ${error.message}`);
  process.exit(2);
}

const logger = createLogger({ service: "crypto", level: config.logLevel });
try {
  const server = await startCryptoServer({ ...config, logger });
  onShutdown(logger, () => server.stop(), config.shutdownGraceMs + 2_000);
} catch (err) {
  logger.fatal({ err }, "crypto service failed to start");
  logger.flush?.();
  process.exitCode = 1;
}
