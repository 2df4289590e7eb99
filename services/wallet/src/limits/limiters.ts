// Builds the wallet's counting limits with rate-limiter-flexible: in memory next to the
// embedded SQLite store (one process per file in practice), in MongoDB when the wallet runs on
// MongoDB, so every instance of a deployment counts against the same limit.
import type { Logger } from "@cv-wallet/common/logger";
import type mongoose from "mongoose";
import { RateLimiterMemory, RateLimiterMongo } from "rate-limiter-flexible";
import type { Limiter } from "../domain/limits.ts";

export interface LimitSettings {
  /** Key retrievals per minute per token or session. */
  retrievalsPerMinute: number;
  /** Sign-ups per hour per client address. */
  signUpsPerHour: number;
}

export interface WalletLimiters {
  retrievals: Limiter;
  signUpsPerAddress: Limiter;
  /** Consecutive failed sign-ins per account and address; reset on success. */
  signInConsecutive: Limiter;
  /** Failed sign-ins per address per day, whatever the account. */
  signInDaily: Limiter;
  /** Wrong device user codes per session, and per address (guessing a code another tool waits on). */
  deviceCodeGuessPerSession: Limiter;
  deviceCodeGuessPerAddress: Limiter;
  /** New device sign-ins per address (an unauthenticated write). */
  deviceAuthorizations: Limiter;
  /** Webhook tests per person: each is a request to a host the person chose. */
  webhookTests: Limiter;
}

const HOUR = 3600;
const LIMITS_COLLECTION = "rate_limits";

/**
 * The counters' indexes on MongoDB: a unique key (concurrent first hits from two instances
 * settle on one document) and a TTL on `expire` to clean up. A server without TTL indexes
 * (FerretDB v1) only loses the clean-up: expired counters are ignored and replaced on use.
 */
export async function ensureLimitIndexes(db: mongoose.mongo.Db, logger: Logger): Promise<void> {
  const collection = db.collection(LIMITS_COLLECTION);
  await collection.createIndex({ key: 1 }, { unique: true });
  try {
    await collection.createIndex({ expire: -1 }, { expireAfterSeconds: 0 });
  } catch (error) {
    if (!/not implemented/i.test((error as Error).message)) throw error;
    logger.warn(
      { collection: LIMITS_COLLECTION },
      "no TTL indexes on this server; expired limit counters stay until reused",
    );
  }
}
const DAY = 24 * HOUR;

/** The login-protection scheme's numbers (rate-limiter-flexible's recipe). */
export const SIGN_IN = {
  consecutiveFailures: 5,
  lockoutSeconds: 15 * 60,
  dailyFailuresPerAddress: 100,
} as const;

export function createLimiters(settings: LimitSettings, mongo?: mongoose.mongo.Db): WalletLimiters {
  type Options = { keyPrefix: string; points: number; duration: number; blockDuration?: number };
  // On MongoDB the indexes come from ensureLimitIndexes (start-up), not from each limiter.
  const make = (o: Options): Limiter =>
    mongo
      ? new RateLimiterMongo({ ...o, storeClient: mongo, tableName: LIMITS_COLLECTION, disableIndexesCreation: true })
      : new RateLimiterMemory(o);
  return {
    retrievals: make({ keyPrefix: "retrieval", points: settings.retrievalsPerMinute, duration: 60 }),
    signUpsPerAddress: make({ keyPrefix: "signup_ip", points: settings.signUpsPerHour, duration: HOUR }),
    signInConsecutive: make({
      keyPrefix: "signin_fail_account_ip",
      points: SIGN_IN.consecutiveFailures,
      // Consecutive within a day (the memory store's timers cannot hold much more than 24 days).
      duration: DAY,
      blockDuration: SIGN_IN.lockoutSeconds,
    }),
    signInDaily: make({
      keyPrefix: "signin_fail_ip_day",
      points: SIGN_IN.dailyFailuresPerAddress,
      duration: DAY,
      blockDuration: DAY,
    }),
    deviceCodeGuessPerSession: make({ keyPrefix: "device_guess_session", points: 10, duration: 15 * 60 }),
    deviceCodeGuessPerAddress: make({ keyPrefix: "device_guess_ip", points: 30, duration: 15 * 60 }),
    deviceAuthorizations: make({ keyPrefix: "device_authz_ip", points: 30, duration: 60 }),
    webhookTests: make({ keyPrefix: "webhook_test_user", points: 10, duration: 10 * 60 }),
  };
}
