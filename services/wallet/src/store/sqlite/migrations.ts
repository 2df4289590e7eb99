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
  // Teams. A team key lives in api_keys with user_id = the team's id (the owner partition) and
  // team_id set, so api_keys.user_id can no longer reference users: the table is rebuilt
  // without that foreign key (key_usage with it, so its reference follows the new table), and
  // deleting a user deletes its keys explicitly. key_usage_tokens is rebuilt too: dropping the
  // old api_keys with foreign keys on would otherwise cascade into it and lose its rows. Team
  // events go to their own table, whose rows outlive the people who acted.
  `
  CREATE TABLE api_keys_v2 (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    team_id TEXT,
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
    prefix_provider TEXT,
    reveal_count INTEGER NOT NULL DEFAULT 0,
    last_revealed_at INTEGER,
    UNIQUE (user_id, provider, name)
  );
  INSERT INTO api_keys_v2 (id, user_id, team_id, provider, name, ciphertext, key_version, last4, base_url, expires_at,
      is_default, usage_count, last_used_at, validation, validation_status, validation_checked_at, created_at, updated_at,
      prefix_provider, reveal_count, last_revealed_at)
    SELECT id, user_id, NULL, provider, name, ciphertext, key_version, last4, base_url, expires_at,
      is_default, usage_count, last_used_at, validation, validation_status, validation_checked_at, created_at, updated_at,
      prefix_provider, reveal_count, last_revealed_at
    FROM api_keys;
  CREATE TABLE key_usage_v2 (
    key_id TEXT NOT NULL REFERENCES api_keys_v2(id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    count INTEGER NOT NULL,
    reveals INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
  ) WITHOUT ROWID;
  INSERT INTO key_usage_v2 (key_id, day, count, reveals) SELECT key_id, day, count, reveals FROM key_usage;
  CREATE TABLE key_usage_tokens_v2 (
    key_id TEXT NOT NULL REFERENCES api_keys_v2(id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    token_id TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key_id, day, token_id)
  ) WITHOUT ROWID;
  INSERT INTO key_usage_tokens_v2 (key_id, day, token_id, count) SELECT key_id, day, token_id, count FROM key_usage_tokens;
  DROP TABLE key_usage_tokens;
  DROP TABLE key_usage;
  DROP TABLE api_keys;
  ALTER TABLE api_keys_v2 RENAME TO api_keys;
  ALTER TABLE key_usage_v2 RENAME TO key_usage;
  ALTER TABLE key_usage_tokens_v2 RENAME TO key_usage_tokens;
  CREATE UNIQUE INDEX api_keys_one_default ON api_keys(user_id, provider) WHERE is_default = 1;
  CREATE INDEX api_keys_list ON api_keys(user_id, created_at DESC, id DESC);
  CREATE INDEX api_keys_expiry ON api_keys(user_id, expires_at) WHERE expires_at IS NOT NULL;
  CREATE INDEX api_keys_due ON api_keys(validation_checked_at);

  ALTER TABLE access_tokens ADD COLUMN team_id TEXT;
  CREATE INDEX access_tokens_team ON access_tokens(team_id) WHERE team_id IS NOT NULL;

  CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (team_id, user_id)
  ) WITHOUT ROWID;
  CREATE INDEX team_members_user ON team_members(user_id);
  CREATE TABLE team_invitations (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    code_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT NOT NULL,
    invited_by_email TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    accepted_at INTEGER,
    accepted_by TEXT
  );
  CREATE INDEX team_invitations_team ON team_invitations(team_id, created_at DESC);
  CREATE TABLE team_audit_events (
    id TEXT PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    actor_type TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    actor_user_id TEXT,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    target_name TEXT NOT NULL,
    time INTEGER NOT NULL,
    address TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    details TEXT NOT NULL
  );
  CREATE INDEX team_audit_list ON team_audit_events(team_id, time DESC, id DESC);
  CREATE INDEX team_audit_time ON team_audit_events(time);
  `,
  // Reminder webhooks. A key remembers when each reminder was sent (claimed) so several wallet
  // processes send it once; the reminder scan walks expires_at over keys that still owe one
  // (the index drops a key once both expiry reminders are out, so it stays small). One webhook
  // per person: the user id is the key, and it goes with the person.
  `
  ALTER TABLE api_keys ADD COLUMN notice_expiring_at INTEGER;
  ALTER TABLE api_keys ADD COLUMN notice_expired_at INTEGER;
  ALTER TABLE api_keys ADD COLUMN notice_invalid_at INTEGER;
  CREATE INDEX api_keys_reminder_due ON api_keys(expires_at, id)
    WHERE expires_at IS NOT NULL AND (notice_expiring_at IS NULL OR notice_expired_at IS NULL);
  CREATE TABLE webhooks (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    key_version INTEGER NOT NULL,
    host TEXT NOT NULL,
    hint TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_delivery TEXT
  );
  `,
];
