// Which MongoDB driver errors mean "the store cannot serve now" (so callers get 503 /
// unavailable and may retry) rather than a fault in the request or the code. Duck-typed on
// the driver's error names, codes and labels, so common does not depend on the driver.

const UNAVAILABLE_NAMES = new Set([
  "MongoNetworkError",
  "MongoNetworkTimeoutError",
  "MongoServerSelectionError",
  "MongoNotConnectedError",
  "MongoTopologyClosedError",
  "MongoPoolClearedError",
  "MongoWriteConcernError",
]);

// Server codes: not primary / node recovering / shutting down / interrupted / exceeded time
// limit / disk or write-concern trouble.
const UNAVAILABLE_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 14031, 64, 100]);

/** True when a MongoDB driver error means the database cannot serve now (down, failing over, disk full). */
export function isMongoUnavailable(error: unknown): boolean {
  const e = error as { name?: unknown; code?: unknown; hasErrorLabel?: (label: string) => boolean } | null;
  if (!e || typeof e !== "object") return false;
  if (typeof e.name === "string" && UNAVAILABLE_NAMES.has(e.name)) return true;
  if (typeof e.code === "number" && UNAVAILABLE_CODES.has(e.code)) return true;
  return (
    typeof e.hasErrorLabel === "function" && (e.hasErrorLabel("RetryableWriteError") || e.hasErrorLabel("ResetPool"))
  );
}
