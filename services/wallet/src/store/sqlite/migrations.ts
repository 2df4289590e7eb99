// Numbered schema migrations for the embedded store; append, never edit an applied one.
// Instants are stored as epoch milliseconds (INTEGER) so range filters use plain indexes.
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX sessions_expiry ON sessions(expires_at);
  CREATE INDEX sessions_user ON sessions(user_id);
  CREATE TABLE access_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    scopes TEXT NOT NULL,
    providers TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
  );
  CREATE INDEX access_tokens_user ON access_tokens(user_id, created_at DESC);
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    last4 TEXT NOT NULL,
    base_url TEXT,
    expires_at INTEGER,
    is_default INTEGER NOT NULL DEFAULT 0,
    usage_count INTEGER NOT NULL DEFAULT 0,
    last_used_at INTEGER,
    validation TEXT,
    validation_status TEXT,
    validation_checked_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (user_id, provider, name)
  );
  CREATE UNIQUE INDEX api_keys_one_default ON api_keys(user_id, provider) WHERE is_default = 1;
  CREATE INDEX api_keys_list ON api_keys(user_id, created_at DESC, id DESC);
  CREATE INDEX api_keys_expiry ON api_keys(user_id, expires_at) WHERE expires_at IS NOT NULL;
  CREATE INDEX api_keys_due ON api_keys(validation_checked_at);
  CREATE TABLE key_usage (
    key_id TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key_id, day)
  ) WITHOUT ROWID;
  CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    target_name TEXT NOT NULL,
    time INTEGER NOT NULL,
    address TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    details TEXT NOT NULL
  );
  CREATE INDEX audit_events_list ON audit_events(user_id, time DESC, id DESC);
  CREATE INDEX audit_events_action ON audit_events(user_id, action, time DESC, id DESC);
  `, // Reveals are counted apart from retrievals; per-day use is split by access token; a key
  // remembers which provider its secret's prefix belongs to when that is another one.
  `
  ALTER TABLE api_keys ADD COLUMN prefix_provider TEXT;
  ALTER TABLE api_keys ADD COLUMN reveal_count INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE api_keys ADD COLUMN last_revealed_at INTEGER;
  ALTER TABLE key_usage ADD COLUMN reveals INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE key_usage_tokens (
    key_id TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    token_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key_id, day, token_id)
  ) WITHOUT ROWID;
  `,
  // Device sign-in requests (RFC 8628), and a key's recent fetches read from the audit log.
  `
  CREATE TABLE device_requests (
    id TEXT PRIMARY KEY,
    device_code_hash TEXT NOT NULL UNIQUE,
    user_code_hash TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    client_host TEXT NOT NULL,
    client_repository TEXT NOT NULL,
    token_name TEXT NOT NULL,
    address TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    scopes TEXT NOT NULL,
    providers TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    interval_seconds INTEGER NOT NULL,
    last_polled_at INTEGER,
    status TEXT NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    decided_at INTEGER,
    decided_by TEXT,
    grant_json TEXT,
    token_id TEXT
  );
  CREATE INDEX device_requests_expiry ON device_requests(expires_at);
  CREATE INDEX audit_events_target ON audit_events(user_id, target_id, time DESC, id DESC);
  `,
  // Hardening, in one step: token lineage (the token that minted this one; NULL when a
  // session did), sessions a person can manage (where from, which browser, last use), the
  // readiness probe's row (proves the store can still write), and audit retention by age.
  `
  ALTER TABLE access_tokens ADD COLUMN parent_id TEXT;
  CREATE INDEX access_tokens_parent ON access_tokens(parent_id) WHERE parent_id IS NOT NULL;
  ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
  ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
  ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;
  CREATE TABLE health_probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);
  CREATE INDEX audit_events_time ON audit_events(time);
  `,
];
