// The real services for the browser suite: the crypto service (gRPC) and the wallet (HTTP,
// serving web/build), each on a loopback port picked by the OS, each with its own temporary
// data directory. Provider checks go to a local fake through the base URL overrides.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { RunningWallet } from "@cv-wallet/wallet";

export const webBuild = resolve(fileURLToPath(new URL("../../../build", import.meta.url)));

const PROVIDER_IDS = ["openai", "anthropic", "google", "mistral", "cohere", "groq", "together", "openrouter"];

export interface Stack {
  origin: string;
  /**
   * Runs the wallet's reminder sweep now (or as of `now`): sends the due webhook reminders and
   * resolves once they are delivered or have failed, retries included.
   */
  runReminders(now?: Date): ReturnType<RunningWallet["reminders"]["run"]>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /**
   * WALLET_ALLOW_PRIVATE_BASE_URLS=true: custom endpoints and webhooks may point at loopback
   * (the webhook suite's receiver). Off by default, as in production, so the suites that check
   * the refusal of private addresses keep seeing it.
   */
  allowPrivateBaseUrls?: boolean;
}

export async function startStack(providerBaseUrl: string, options: StackOptions = {}): Promise<Stack> {
  if (!existsSync(join(webBuild, "index.html"))) {
    throw new Error(`no web build at ${webBuild}: run \`npm run build -w web\` first (turbo does)`);
  }
  const { startCryptoServer } = await import("@cv-wallet/crypto");
  const { startWallet } = await import("@cv-wallet/wallet");
  const { readConfig } = await import("@cv-wallet/wallet/config");

  const dir = mkdtempSync(join(tmpdir(), "cvw-web-e2e-"));
  const serviceToken = randomBytes(24).toString("base64url");
  const crypto = await startCryptoServer({
    address: "127.0.0.1:0",
    dataDir: join(dir, "crypto"),
    serviceToken,
    logLevel: "warn",
  });
  await crypto.whenReady();

  const env: Record<string, string> = {
    WALLET_HTTP_ADDR: "127.0.0.1:0",
    WALLET_DATA_DIR: join(dir, "wallet"),
    WALLET_WEB_DIR: webBuild,
    CRYPTO_GRPC_ADDR: crypto.address,
    CRYPTO_SERVICE_TOKEN: serviceToken,
    WALLET_VALIDATE_INTERVAL: "0",
    // Reminders are swept only when a suite asks (runReminders), never behind its back.
    WALLET_REMINDER_INTERVAL: "0",
    LOG_LEVEL: "warn",
  };
  if (options.allowPrivateBaseUrls) env.WALLET_ALLOW_PRIVATE_BASE_URLS = "true";
  for (const id of PROVIDER_IDS) env[`WALLET_PROVIDER_${id.toUpperCase()}_BASE_URL`] = providerBaseUrl;
  const wallet = await startWallet(readConfig(env));

  return {
    origin: wallet.url,
    runReminders: (now) => wallet.reminders.run(now),
    async stop() {
      await wallet.stop();
      await crypto.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
