// The embedded store's connection: Node's built-in node:sqlite (no native addon to build),
// WAL mode so several processes can share one file, and numbered migrations recorded in
// the database itself. Also what both services need when the disk misbehaves: which errors
// mean "the store cannot serve now" (503 / unavailable, not 500), and how to make deleted
// secrets leave the files (secure_delete, then a WAL checkpoint).
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { AppError } from "./errors.ts";

export { DatabaseSync } from "node:sqlite";

export interface OpenSqliteOptions {
  /** The environment variable that chose the location, named in start-up errors (e.g. CRYPTO_DATA_DIR). */
  variable?: string;
  /**
   * Overwrite deleted content with zeros (`PRAGMA secure_delete`), for stores whose deletions
   * must not stay readable in the file (destroyed key material). Costs extra writes per delete.
   */
  secureDelete?: boolean;
}

/** Opens (creating if needed) a SQLite file and applies the migrations it has not seen. */
export function openSqlite(file: string, migrations: readonly string[], options: OpenSqliteOptions = {}): DatabaseSync {
  let db: DatabaseSync;
  try {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    db = new DatabaseSync(file);
  } catch (error) {
    // "unable to open database file" alone names neither the setting nor the path.
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${options.variable ?? "database"}: cannot open the SQLite file ${file}: ${reason}`, {
      cause: error,
    });
  }
  try {
    // busy_timeout first: switching to WAL needs a lock that another process opening the same
    // file at the same moment may hold, and without a timeout that fails at once (SQLITE_BUSY).
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("PRAGMA synchronous = NORMAL");
    if (options.secureDelete) db.exec("PRAGMA secure_delete = ON");
    migrate(db, migrations);
  } catch (error) {
    db.close();
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${options.variable ?? "database"}: cannot use the SQLite file ${file}: ${reason}`, {
      cause: error,
    });
  }
  return db;
}

function migrate(db: DatabaseSync, migrations: readonly string[]): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
  // BEGIN IMMEDIATE takes the write lock, so two processes starting at once migrate once.
  transaction(db, () => {
    const row = db.prepare("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").get() as { v: number };
    for (let v = row.v + 1; v <= migrations.length; v++) {
      db.exec(migrations[v - 1]!);
      db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)").run(v, new Date().toISOString());
    }
  });
}

/** Runs `fn` in a write transaction (BEGIN IMMEDIATE), committing or rolling back. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = fn();
    db.exec("COMMIT");
    return result;
  } catch (err) {
    // On SQLITE_FULL, IOERR, BUSY or NOMEM SQLite may already have rolled the transaction
    // back; a ROLLBACK then fails ("no transaction is active") and would hide the real error.
    if (db.isTransaction) {
      try {
        db.exec("ROLLBACK");
      } catch {
        // The original error is the one worth reporting.
      }
    }
    throw err;
  }
}

// Primary result codes (the low byte of an extended code) that mean the storage, not the
// request, is at fault: the same request can succeed once the disk or the lock is back.
const STORAGE_CODES: Record<number, string> = {
  3: "access to the database file is denied (SQLITE_PERM)",
  5: "the database is locked by another connection (SQLITE_BUSY)",
  6: "a table is locked (SQLITE_LOCKED)",
  7: "out of memory (SQLITE_NOMEM)",
  8: "the database is read-only (SQLITE_READONLY)",
  10: "a disk I/O error (SQLITE_IOERR)",
  13: "the disk is full (SQLITE_FULL)",
  14: "the database file cannot be opened (SQLITE_CANTOPEN)",
  11: "the database file is damaged (SQLITE_CORRUPT)",
  15: "a locking protocol error (SQLITE_PROTOCOL)",
  26: "the file is not a database (SQLITE_NOTADB)",
};

function primaryCode(error: unknown): number | undefined {
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  return typeof errcode === "number" ? errcode & 0xff : undefined;
}

/** What storage fault a node:sqlite error is (for the one log line), or undefined for anything else. */
export function storageFaultOf(error: unknown): string | undefined {
  return STORAGE_CODES[primaryCode(error) ?? -1];
}

/** True when a node:sqlite error means the store cannot read or write now (disk full, read-only, I/O, busy). */
export function isStorageUnavailable(error: unknown): boolean {
  const code = primaryCode(error);
  return code !== undefined && code in STORAGE_CODES;
}

/**
 * The AppError a storage failure answers with: `unavailable`, a message safe for callers
 * (what, not where), and the SQLite error as `cause` for the one log line that reports it.
 */
export function storageUnavailable(error: unknown, what = "the store"): AppError {
  const reason = STORAGE_CODES[primaryCode(error) ?? -1] ?? "a storage error";
  return new AppError("unavailable", `${what} cannot serve this request now: ${reason}`, { cause: error });
}

/**
 * Copies the WAL into the database file and truncates the WAL to zero bytes, so pages that
 * held deleted content (with secure_delete on, now zeroed in the main file) no longer sit in
 * the WAL. Returns false when another connection's read kept part of the WAL in use.
 */
export function checkpoint(db: DatabaseSync): boolean {
  const row = db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get() as { busy: number } | undefined;
  return row?.busy === 0;
}
