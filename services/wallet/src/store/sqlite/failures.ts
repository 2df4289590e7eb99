// Storage faults of the embedded store, told apart from bugs: a full disk, a read-only or
// vanished file, an I/O error or a lock held too long are the environment's doing, answered
// with 503 unavailable (retry later, elsewhere), not 500.
import type { DatabaseSync } from "node:sqlite";

/** SQLite primary result codes that mean "the storage cannot serve right now". */
const STORAGE_CODES: Record<number, string> = {
  3: "permission denied (SQLITE_PERM)",
  5: "database busy (SQLITE_BUSY)",
  6: "database locked (SQLITE_LOCKED)",
  8: "read-only (SQLITE_READONLY)",
  10: "I/O error (SQLITE_IOERR)",
  11: "corrupt (SQLITE_CORRUPT)",
  13: "disk full (SQLITE_FULL)",
  14: "cannot open (SQLITE_CANTOPEN)",
  26: "not a database (SQLITE_NOTADB)",
};

/** What kind of storage fault `error` is, or undefined for anything else (a bug, a constraint). */
export function sqliteStorageFault(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const e = error as { code?: unknown; errcode?: unknown; message?: unknown };
  if (e.code !== "ERR_SQLITE_ERROR" || typeof e.errcode !== "number") return undefined;
  return STORAGE_CODES[e.errcode & 0xff];
}

/**
 * A write transaction (BEGIN IMMEDIATE) that rethrows the error that broke it. SQLite rolls a
 * transaction back by itself after some failures (a full disk among them); issuing ROLLBACK
 * then fails with "cannot rollback - no transaction is active" and would hide the real cause,
 * so ROLLBACK runs only while a transaction is still open, and its own failure never replaces
 * the first error.
 */
export function tx<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = fn();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    if (db.isTransaction) {
      try {
        db.exec("ROLLBACK");
      } catch {
        // The first error is the one worth reporting.
      }
    }
    throw error;
  }
}
