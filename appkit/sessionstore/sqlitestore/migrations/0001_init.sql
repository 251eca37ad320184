-- Session store schema, created by Open (idempotent). Times are Unix
-- milliseconds; NULL means the zero time. expires_at is never NULL.

CREATE TABLE IF NOT EXISTS sessions (
    key                 TEXT    NOT NULL PRIMARY KEY, -- SHA-256 of the session id
    user_id             TEXT    NOT NULL,
    claims              BLOB,
    access_token        TEXT    NOT NULL DEFAULT '',
    access_token_expiry INTEGER,
    refresh_token_id    TEXT    NOT NULL DEFAULT '',
    auth_time           INTEGER,
    created_at          INTEGER,
    last_seen           INTEGER,
    expires_at          INTEGER NOT NULL,
    absolute_expiry     INTEGER,
    ip                  TEXT    NOT NULL DEFAULT '',
    user_agent          TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sessions_user_id ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);

-- One row per refresh token being refreshed (key = hash of the token).
CREATE TABLE IF NOT EXISTS refresh_claims (
    key        TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS refresh_claims_expires_at ON refresh_claims (expires_at);

-- The sealed outcome of a refresh, for other processes with the same cookie.
CREATE TABLE IF NOT EXISTS refresh_results (
    key        TEXT    NOT NULL PRIMARY KEY,
    result     BLOB    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refresh_results_expires_at ON refresh_results (expires_at);
