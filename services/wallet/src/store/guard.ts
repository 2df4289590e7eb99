// Wraps a store so storage faults (disk full, read-only file, I/O errors, MongoDB unreachable)
// become 503 unavailable with the real cause logged, once per cause and minute rather than on
// every request, and so readiness reports a store that has just failed to write.
import { AppError } from "@cv-wallet/common/errors";
import type { Logger } from "@cv-wallet/common/logger";
import { storageFaultOf } from "@cv-wallet/common/sqlite";
import type { Store } from "./port.ts";

const LOG_EVERY_MS = 60_000;
/** After a storage fault, readiness stays down this long even if a probe succeeds. */
const NOT_READY_FOR_MS = 5_000;

/** MongoDB driver errors that mean the database is out of reach, not that the request was wrong. */
function mongoFault(error: unknown): string | undefined {
  const name = (error as { name?: unknown } | null)?.name;
  if (typeof name !== "string") return undefined;
  if (/^Mongo(Network|NetworkTimeout|ServerSelection|NotConnected|TopologyClosed|PoolCleared)Error$/.test(name)) {
    return `MongoDB unreachable (${name})`;
  }
  // Disk full / out of space on the server.
  if (name === "MongoServerError" && [14031, 14].includes(Number((error as { code?: unknown }).code))) {
    return "MongoDB out of disk space";
  }
  return undefined;
}

export function storageFault(error: unknown): string | undefined {
  return storageFaultOf(error) ?? mongoFault(error);
}

export function guardStore(store: Store, logger: Logger): Store {
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  let lastFaultAt = 0;
  let lastFault = "";

  const fail = (error: unknown, where: string): never => {
    const fault = storageFault(error);
    if (!fault) throw error;
    const now = Date.now();
    lastFaultAt = now;
    lastFault = fault;
    const seen = lastLogged.get(fault);
    if (!seen || now - seen.at >= LOG_EVERY_MS) {
      logger.error(
        {
          fault,
          cause: error instanceof Error ? error.message : String(error),
          where,
          suppressed: seen?.suppressed ?? 0,
        },
        "storage failure: answering 503 until it recovers",
      );
      lastLogged.set(fault, { at: now, suppressed: 0 });
    } else {
      seen.suppressed++;
    }
    throw new AppError("unavailable", "the wallet's storage is unavailable; try again shortly", {
      cause: error,
      retryAfterSeconds: 5,
    });
  };

  const wrap = <T extends object>(name: string, part: T): T => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(part)) {
      out[key] =
        typeof value === "function"
          ? async (...args: unknown[]) => {
              try {
                return await (value as (...a: unknown[]) => Promise<unknown>).apply(part, args);
              } catch (error) {
                return fail(error, `${name}.${key}`);
              }
            }
          : value;
    }
    return out as T;
  };

  return {
    kind: store.kind,
    users: wrap("users", store.users),
    sessions: wrap("sessions", store.sessions),
    tokens: wrap("tokens", store.tokens),
    keys: wrap("keys", store.keys),
    audit: wrap("audit", store.audit),
    teams: wrap("teams", store.teams),
    deviceRequests: wrap("deviceRequests", store.deviceRequests),
    webhooks: wrap("webhooks", store.webhooks),
    ping: async () => {
      if (Date.now() - lastFaultAt < NOT_READY_FOR_MS) throw new Error(`store failed recently: ${lastFault}`);
      try {
        await store.ping();
      } catch (error) {
        if (storageFault(error)) fail(error, "ping");
        throw error;
      }
    },
    close: () => store.close(),
  };
}
