// Builds the wallet's counting limits with rate-limiter-flexible: in memory next to the
// embedded SQLite store (one process per file in practice), in MongoDB when the wallet runs on
// MongoDB, so every instance of a deployment counts against the same limit.
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
}

const HOUR = 3600;
const DAY = 24 * HOUR;

/** The login-protection scheme's numbers (rate-limiter-flexible's recipe). */
export const SIGN_IN = {
  consecutiveFailures: 5,
  lockoutSeconds: 15 * 60,
  dailyFailuresPerAddress: 100,
} as const;

export function createLimiters(settings: LimitSettings, mongo?: mongoose.mongo.Db): WalletLimiters {
  type Options = { keyPrefix: string; points: number; duration: number; blockDuration?: number };
  const make = (o: Options): Limiter =>
    mongo ? new RateLimiterMongo({ ...o, storeClient: mongo, tableName: "rate_limits" }) : new RateLimiterMemory(o);
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
  };
}
