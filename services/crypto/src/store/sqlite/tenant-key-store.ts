// The embedded store: node:sqlite (built into Node 24, nothing native to build) in WAL mode,
// so several instances can share one file. (name, version) is the primary key: a racing
// insert of the same version fails and the caller re-reads. secure_delete is on and a
// destroyed key's WAL is checkpointed away, so its wrapped DEKs leave the files. A disk that
// is full, read-only or failing, or a lock held too long, answers `unavailable`.
import type { StatementSync } from "node:sqlite";
import type { Logger } from "@cv-wallet/common/logger";
import {
  checkpoint,
  type DatabaseSync,
  isStorageUnavailable,
  openSqlite,
  storageUnavailable,
  transaction,
} from "@cv-wallet/common/sqlite";
import type {
  TenantKey,
  TenantKeyStore,
  TenantKeyVersion,
  TenantKeyVersionWithMin,
  TenantKeyWithVersions,
} from "../port.ts";

const MIGRATIONS = [
  `CREATE TABLE crypto_keys (
     name TEXT PRIMARY KEY,
     min_decryption_version INTEGER NOT NULL DEFAULT 1,
     created_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE crypto_key_versions (
     name TEXT NOT NULL REFERENCES crypto_keys(name) ON DELETE CASCADE,
     version INTEGER NOT NULL,
     dek_id TEXT NOT NULL,
     wrapped_dek BLOB NOT NULL,
     wrapping_key_id TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     encryption_count INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (name, version)
   ) STRICT;`,
  // Destroyed names stay as tombstones so a late encrypt cannot re-create the key; the health
  // row is what the readiness probe writes.
  `CREATE TABLE crypto_destroyed_keys (
     name TEXT PRIMARY KEY,
     destroyed_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE crypto_health (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     checked_at INTEGER NOT NULL
   ) STRICT;`,
];

// At most one log line per this interval while the store keeps failing (the count of the rest is in it).
const FAILURE_LOG_INTERVAL_MS = 10_000;

interface VersionRow {
  name: string;
  version: number;
  dek_id: string;
  wrapped_dek: Uint8Array;
  wrapping_key_id: string;
  created_at: number;
  encryption_count: number;
  min_decryption_version?: number;
}

interface KeyRow {
  name: string;
  min_decryption_version: number;
  created_at: number;
}

const VERSION_COLUMNS =
  "v.name, v.version, v.dek_id, v.wrapped_dek, v.wrapping_key_id, v.created_at, v.encryption_count";

// The two queries of every Encrypt / Decrypt, built once: a template literal in the method
// made a new 250-character string per call, hashed again for the statement lookup.
// MAX() on the primary key is one index probe; ORDER BY … LIMIT 1 across the join was not.
const LATEST_VERSION = `SELECT ${VERSION_COLUMNS}, k.min_decryption_version FROM crypto_key_versions v
  JOIN crypto_keys k ON k.name = v.name
  WHERE v.name = ?1 AND v.version = (SELECT MAX(version) FROM crypto_key_versions WHERE name = ?1)`;
const MAX_REMEMBERED = 10_000;
const GET_VERSION = `SELECT ${VERSION_COLUMNS}, k.min_decryption_version FROM crypto_key_versions v
  JOIN crypto_keys k ON k.name = v.name WHERE v.name = ? AND v.version = ?`;

export class SqliteTenantKeyStore implements TenantKeyStore {
  readonly kind = "sqlite" as const;
  readonly #db: DatabaseSync;
  readonly #file: string;
  readonly #statements = new Map<string, StatementSync>();
  /**
   * Version rows read by Encrypt / Decrypt, valid only while no connection has written the
   * file since they were read: every lookup first asks SQLite for `PRAGMA data_version`
   * (which changes when any other connection — another instance — commits) and our own
   * writes clear it. So a destroyed key, a new version or a raised minimum elsewhere is seen
   * by the very next call, exactly as with a fresh SELECT. Key metadata and wrapped DEKs
   * only; nothing here is secret.
   */
  readonly #versions = new Map<string, TenantKeyVersionWithMin>();
  #dataVersion = -1;
  readonly #logger: Logger | undefined;
  #lastFailureLog = 0;
  #suppressedFailures = 0;

  constructor(file: string, logger?: Logger) {
    this.#file = file;
    this.#logger = logger;
    this.#db = openSqlite(file, MIGRATIONS, { variable: "CRYPTO_DATA_DIR", secureDelete: true });
  }

  async check(): Promise<void> {
    try {
      // A write, not a read: a store that can answer but not write cannot serve Encrypt.
      this.#stmt(
        "INSERT INTO crypto_health (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
      ).run(Date.now());
    } catch (error) {
      throw new Error(`CRYPTO_DATA_DIR: the key store ${this.#file} cannot write: ${String(error)}`);
    }
  }

  /**
   * Runs a store operation; a storage fault becomes `unavailable` (the SQLite error logged
   * here, once, since callers see only the safe message) and anything else passes through.
   */
  #guard<T>(operation: string, fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if (!isStorageUnavailable(error)) throw error;
      const now = Date.now();
      if (now - this.#lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
        this.#logger?.error(
          { err: error, operation, file: this.#file, suppressed: this.#suppressedFailures },
          "key store cannot serve: answering unavailable",
        );
        this.#lastFailureLog = now;
        this.#suppressedFailures = 0;
      } else {
        this.#suppressedFailures++;
      }
      throw storageUnavailable(error, "the key store");
    }
  }

  async latestVersion(name: string): Promise<TenantKeyVersionWithMin | undefined> {
    return this.#guard("latestVersion", () => {
      const id = `${name}\u0000latest`;
      const cached = this.#cached(id);
      if (cached) return cached;
      const row = this.#stmt(LATEST_VERSION).get(name) as VersionRow | undefined;
      return row && this.#remember(id, withKey(row));
    });
  }

  async getVersion(name: string, version: number): Promise<TenantKeyVersionWithMin | undefined> {
    return this.#guard("getVersion", () => {
      const id = `${name}\u0000${version}`;
      const cached = this.#cached(id);
      if (cached) return cached;
      const row = this.#stmt(GET_VERSION).get(name, version) as VersionRow | undefined;
      return row && this.#remember(id, withKey(row));
    });
  }

  /** A remembered row, if no connection has committed since (else forgets them all). */
  #cached(id: string): TenantKeyVersionWithMin | undefined {
    const { data_version } = this.#stmt("PRAGMA data_version").get() as { data_version: number };
    if (data_version !== this.#dataVersion) {
      this.#versions.clear();
      this.#dataVersion = data_version;
      return undefined;
    }
    return this.#versions.get(id);
  }

  #remember(id: string, version: TenantKeyVersionWithMin): TenantKeyVersionWithMin {
    if (this.#versions.size >= MAX_REMEMBERED) this.#versions.clear();
    this.#versions.set(id, Object.freeze(version));
    return version;
  }

  async getKey(name: string): Promise<TenantKeyWithVersions | undefined> {
    return this.#guard("getKey", () => {
      const key = this.#stmt("SELECT * FROM crypto_keys WHERE name = ?").get(name) as KeyRow | undefined;
      return key && this.#withVersions(key);
    });
  }

  async listKeys(after: string, limit: number): Promise<TenantKeyWithVersions[]> {
    return this.#guard("listKeys", () => {
      const keys = this.#stmt("SELECT * FROM crypto_keys WHERE name > ? ORDER BY name LIMIT ?").all(
        after,
        limit,
      ) as unknown as KeyRow[];
      return keys.map((k) => this.#withVersions(k));
    });
  }

  async insertVersion(record: TenantKeyVersion): Promise<"inserted" | "exists" | "destroyed"> {
    this.#versions.clear();
    return this.#guard("insertVersion", () =>
      transaction(this.#db, () => {
        // In the same write transaction as the insert, so a racing destroy is either seen here
        // or deletes what this inserts.
        if (this.#stmt("SELECT 1 FROM crypto_destroyed_keys WHERE name = ?").get(record.name)) return "destroyed";
        this.#stmt(
          "INSERT INTO crypto_keys (name, min_decryption_version, created_at) VALUES (?, 1, ?) ON CONFLICT DO NOTHING",
        ).run(record.name, record.createdAt.getTime());
        const result = this.#stmt(
          `INSERT INTO crypto_key_versions (name, version, dek_id, wrapped_dek, wrapping_key_id, created_at, encryption_count)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        ).run(
          record.name,
          record.version,
          record.dekId,
          record.wrappedDek,
          record.wrappingKeyId,
          record.createdAt.getTime(),
          record.encryptionCount,
        );
        return result.changes === 1 ? "inserted" : "exists";
      }),
    );
  }

  async raiseMinDecryptionVersion(name: string, version: number): Promise<TenantKey | undefined> {
    this.#versions.clear();
    return this.#guard("raiseMinDecryptionVersion", () => {
      this.#stmt("UPDATE crypto_keys SET min_decryption_version = MAX(min_decryption_version, ?) WHERE name = ?").run(
        version,
        name,
      );
      const key = this.#stmt("SELECT * FROM crypto_keys WHERE name = ?").get(name) as KeyRow | undefined;
      return key && toKey(key);
    });
  }

  async reserveEncryptions(name: string, version: number, count: number): Promise<number | undefined> {
    this.#versions.clear();
    return this.#guard("reserveEncryptions", () => {
      const row = this.#stmt(
        `UPDATE crypto_key_versions SET encryption_count = encryption_count + ? WHERE name = ? AND version = ?
           RETURNING encryption_count`,
      ).get(count, name, version) as { encryption_count: number } | undefined;
      return row?.encryption_count;
    });
  }

  async addEncryptions(increments: readonly { name: string; version: number; count: number }[]): Promise<void> {
    if (increments.length === 0) return;
    this.#versions.clear();
    this.#guard("addEncryptions", () =>
      transaction(this.#db, () => {
        const update = this.#stmt(
          "UPDATE crypto_key_versions SET encryption_count = MAX(0, encryption_count + ?) WHERE name = ? AND version = ?",
        );
        for (const i of increments) update.run(i.count, i.name, i.version);
      }),
    );
  }

  async destroyKey(name: string): Promise<number> {
    this.#versions.clear();
    const destroyed = this.#guard("destroyKey", () =>
      transaction(this.#db, () => {
        this.#stmt("INSERT INTO crypto_destroyed_keys (name, destroyed_at) VALUES (?, ?) ON CONFLICT DO NOTHING").run(
          name,
          Date.now(),
        );
        const versions = this.#stmt("DELETE FROM crypto_key_versions WHERE name = ?").run(name).changes;
        this.#stmt("DELETE FROM crypto_keys WHERE name = ?").run(name);
        return Number(versions);
      }),
    );
    // With secure_delete the main file's pages are zeroed by the delete; the WAL still holds
    // earlier copies of those pages until it is checkpointed and truncated.
    if (destroyed > 0) {
      try {
        if (!checkpoint(this.#db)) {
          this.#logger?.warn(
            { keyName: name },
            "WAL checkpoint after destroying a key was partial (another connection was reading): the next one completes it",
          );
        }
      } catch (error) {
        this.#logger?.warn({ err: error, keyName: name }, "WAL checkpoint after destroying a key failed");
      }
    }
    return destroyed;
  }

  async listVersions(after: { name: string; version: number } | undefined, limit: number): Promise<TenantKeyVersion[]> {
    return this.#guard("listVersions", () => this.#listVersions(after, limit));
  }

  #listVersions(after: { name: string; version: number } | undefined, limit: number): TenantKeyVersion[] {
    const rows = (after
      ? this.#stmt(
          `SELECT ${VERSION_COLUMNS} FROM crypto_key_versions v
               WHERE v.name > ? OR (v.name = ? AND v.version > ?) ORDER BY v.name, v.version LIMIT ?`,
        ).all(after.name, after.name, after.version, limit)
      : this.#stmt(`SELECT ${VERSION_COLUMNS} FROM crypto_key_versions v ORDER BY v.name, v.version LIMIT ?`).all(
          limit,
        )) as unknown as VersionRow[];
    return rows.map(toVersion);
  }

  async replaceWrappedDek(
    name: string,
    version: number,
    expected: Uint8Array,
    next: { wrappedDek: Uint8Array; wrappingKeyId: string },
  ): Promise<boolean> {
    this.#versions.clear();
    return this.#guard("replaceWrappedDek", () => {
      const result = this.#stmt(
        "UPDATE crypto_key_versions SET wrapped_dek = ?, wrapping_key_id = ? WHERE name = ? AND version = ? AND wrapped_dek = ?",
      ).run(next.wrappedDek, next.wrappingKeyId, name, version, expected);
      return result.changes === 1;
    });
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }

  /** Prepared once per SQL text: preparing costs more than most of these queries. */
  #stmt(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #withVersions(key: KeyRow): TenantKeyWithVersions {
    const rows = this.#stmt(
      `SELECT ${VERSION_COLUMNS} FROM crypto_key_versions v WHERE v.name = ? ORDER BY v.version`,
    ).all(key.name) as unknown as VersionRow[];
    return { ...toKey(key), versions: rows.map(toVersion) };
  }
}

function toKey(row: KeyRow): TenantKey {
  return { name: row.name, minDecryptionVersion: row.min_decryption_version, createdAt: new Date(row.created_at) };
}

function toVersion(row: VersionRow): TenantKeyVersion {
  return {
    name: row.name,
    version: row.version,
    dekId: row.dek_id,
    wrappedDek: new Uint8Array(row.wrapped_dek),
    wrappingKeyId: row.wrapping_key_id,
    createdAt: new Date(row.created_at),
    encryptionCount: row.encryption_count,
  };
}

function withKey(row: VersionRow): TenantKeyVersionWithMin {
  return { ...toVersion(row), minDecryptionVersion: row.min_decryption_version ?? 1 };
}
