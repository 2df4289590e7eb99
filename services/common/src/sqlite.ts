// The embedded store's connection: Node's built-in node:sqlite (no native addon to build),
// WAL mode so several processes can share one file, and numbered migrations recorded in
// the database itself.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync } from "node:sqlite";

export { DatabaseSync } from "node:sqlite";

/** Opens (creating if needed) a SQLite file and applies the migrations it has not seen. */
export function openSqlite(file: string, migrations: readonly string[]): DatabaseSync {
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new DatabaseSync(file);
  // busy_timeout first: switching to WAL needs a lock that another process opening the same
  // file at the same moment may hold, and without a timeout that fails at once (SQLITE_BUSY).
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA synchronous = NORMAL");
  migrate(db, migrations);
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
    db.exec("ROLLBACK");
    throw err;
  }
}
