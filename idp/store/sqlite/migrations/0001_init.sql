-- Gatehouse IdP schema, version 1.
-- Times are INTEGER unix milliseconds, 0 = the zero time.
-- Slices are JSON text; hashes and keys are BLOBs. Tables are STRICT so a
-- wrongly typed bind fails loudly instead of being coerced.

CREATE TABLE users (
	id                       TEXT    PRIMARY KEY,
	-- Lower-cased by the store in Go (Unicode-aware; SQLite's lower() folds
	-- ASCII only), so the unique index on email is the unique lower(email).
	email                    TEXT    NOT NULL,
	username                 TEXT    NOT NULL,
	first_name               TEXT    NOT NULL,
	last_name                TEXT    NOT NULL,
	full_name                TEXT    NOT NULL,
	password_hash            TEXT    NOT NULL,
	active                   INTEGER NOT NULL,
	verified                 INTEGER NOT NULL,
	data                     TEXT,   -- JSON; NULL = absent
	password_change_required INTEGER NOT NULL,
	password_updated_at      INTEGER NOT NULL,
	expiry                   INTEGER NOT NULL,
	last_login_at            INTEGER NOT NULL,
	created_at               INTEGER NOT NULL,
	locked_until             INTEGER NOT NULL,
	tokens_revoked_before    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_email ON users (email) WHERE email <> '';
CREATE UNIQUE INDEX users_username ON users (username) WHERE username <> '';
CREATE INDEX users_created ON users (created_at);

CREATE TABLE login_failures (
	user_id      TEXT    PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	window_start INTEGER NOT NULL,
	count        INTEGER NOT NULL
) STRICT;

CREATE TABLE applications (
	id                 TEXT    PRIMARY KEY,
	name               TEXT    NOT NULL,
	active             INTEGER NOT NULL,
	client_secret_hash BLOB,            -- NULL = public client
	config             TEXT    NOT NULL, -- store.ApplicationConfig as JSON
	created_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX applications_created ON applications (created_at);

CREATE TABLE registrations (
	id             TEXT    PRIMARY KEY,
	user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	application_id TEXT    NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	roles          TEXT    NOT NULL, -- JSON array
	verified       INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	UNIQUE (user_id, application_id)
) STRICT;
-- The unique pair serves lookups by user; this one serves the cascade
-- from applications.
CREATE INDEX registrations_application ON registrations (application_id);

CREATE TABLE api_keys (
	id          TEXT    PRIMARY KEY,
	key_hash    BLOB    NOT NULL UNIQUE,
	description TEXT    NOT NULL,
	created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE signing_keys (
	id          TEXT    PRIMARY KEY,
	algorithm   TEXT    NOT NULL,
	private_key BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	retired_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE refresh_tokens (
	id                 TEXT    PRIMARY KEY,
	user_id            TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	application_id     TEXT    NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	token_hash         BLOB    NOT NULL UNIQUE,
	scopes             TEXT    NOT NULL, -- JSON array
	created_at         INTEGER NOT NULL,
	start_at           INTEGER NOT NULL,
	expires_at         INTEGER NOT NULL,
	auth_time          INTEGER NOT NULL,
	grants             TEXT    NOT NULL, -- JSON array
	device_name        TEXT    NOT NULL,
	device_type        TEXT    NOT NULL,
	device_description TEXT    NOT NULL,
	last_used_at       INTEGER NOT NULL,
	last_used_ip       TEXT    NOT NULL,
	generation         INTEGER NOT NULL
) STRICT;
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);
-- Serves ListRefreshTokens (newest first), the delete-by-user paths and the
-- cascade from users.
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id, created_at);
CREATE INDEX refresh_tokens_application ON refresh_tokens (application_id);

-- One row per retired token string. WITHOUT ROWID: the rows are small and
-- always found by hash, so the table is its own primary-key index (one
-- B-tree write fewer per rotation).
CREATE TABLE refresh_token_rotations (
	token_hash BLOB    PRIMARY KEY,
	family_id  TEXT    NOT NULL REFERENCES refresh_tokens (id) ON DELETE CASCADE,
	rotated_at INTEGER NOT NULL,
	successor  BLOB               -- NULL once cleared
) STRICT, WITHOUT ROWID;
-- Serves the cascade when a family is deleted.
CREATE INDEX refresh_token_rotations_family ON refresh_token_rotations (family_id);
-- Serves clearing successors: partial, so each collection visits only the
-- rotations that still hold one, not the whole history.
CREATE INDEX refresh_token_rotations_successor ON refresh_token_rotations (rotated_at)
	WHERE successor IS NOT NULL;
