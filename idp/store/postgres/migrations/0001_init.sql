-- Gatehouse IdP schema, version 1.
-- Times are timestamptz (NULL = Go zero time). seq columns give a stable
-- order among rows created in the same microsecond. Foreign keys with
-- ON DELETE CASCADE carry deletes from users and applications to their
-- registrations and refresh-token families, and from families to their
-- rotation records; PostgreSQL's key locks make that safe against a
-- rotation committing at the same moment.

CREATE TABLE users (
	seq                      bigserial   NOT NULL,
	id                       text        PRIMARY KEY,
	email                    text        NOT NULL DEFAULT '',
	username                 text        NOT NULL DEFAULT '',
	first_name               text        NOT NULL DEFAULT '',
	last_name                text        NOT NULL DEFAULT '',
	full_name                text        NOT NULL DEFAULT '',
	password_hash            text        NOT NULL DEFAULT '',
	active                   boolean     NOT NULL DEFAULT false,
	verified                 boolean     NOT NULL DEFAULT false,
	data                     bytea,
	password_change_required boolean     NOT NULL DEFAULT false,
	password_updated_at      timestamptz,
	expiry                   timestamptz,
	last_login_at            timestamptz,
	created_at               timestamptz,
	locked_until             timestamptz,
	tokens_revoked_before    timestamptz,
	-- Brute-force counter: failures in the window that began at
	-- failure_window_start (NULL = no failures).
	failure_count            integer     NOT NULL DEFAULT 0,
	failure_window_start     timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (email) WHERE email <> '';
CREATE UNIQUE INDEX users_username_key ON users (username) WHERE username <> '';
CREATE INDEX users_created ON users (created_at, seq);

CREATE TABLE applications (
	seq                bigserial   NOT NULL,
	id                 text        PRIMARY KEY,
	name               text        NOT NULL DEFAULT '',
	active             boolean     NOT NULL DEFAULT false,
	client_secret_hash bytea,
	config             jsonb       NOT NULL DEFAULT '{}',
	created_at         timestamptz
);

CREATE TABLE registrations (
	seq            bigserial   NOT NULL,
	id             text        NOT NULL,
	user_id        text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	application_id text        NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	roles          text[],
	verified       boolean     NOT NULL DEFAULT false,
	created_at     timestamptz,
	PRIMARY KEY (user_id, application_id)
);
CREATE UNIQUE INDEX registrations_id_key ON registrations (id);
CREATE INDEX registrations_application ON registrations (application_id);

CREATE TABLE api_keys (
	seq         bigserial   NOT NULL,
	id          text        PRIMARY KEY,
	key_hash    bytea       NOT NULL UNIQUE,
	description text        NOT NULL DEFAULT '',
	created_at  timestamptz
);

CREATE TABLE signing_keys (
	seq         bigserial   NOT NULL,
	id          text        PRIMARY KEY,
	algorithm   text        NOT NULL,
	private_key bytea       NOT NULL,
	created_at  timestamptz,
	retired_at  timestamptz
);

CREATE TABLE refresh_tokens (
	seq                bigserial   NOT NULL,
	id                 text        PRIMARY KEY,
	user_id            text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	application_id     text        NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
	token_hash         bytea       NOT NULL,
	scopes             text[],
	created_at         timestamptz,
	start_at           timestamptz,
	expires_at         timestamptz,
	auth_time          timestamptz,
	grants             text[],
	device_name        text        NOT NULL DEFAULT '',
	device_type        text        NOT NULL DEFAULT '',
	device_description text        NOT NULL DEFAULT '',
	last_used_at       timestamptz,
	last_used_ip       text        NOT NULL DEFAULT '',
	generation         integer     NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX refresh_tokens_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id, application_id);
CREATE INDEX refresh_tokens_application ON refresh_tokens (application_id);
-- Collection of expired families walks this index, never the table.
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE rotations (
	token_hash bytea       PRIMARY KEY,
	family_id  text        NOT NULL REFERENCES refresh_tokens (id) ON DELETE CASCADE,
	rotated_at timestamptz NOT NULL,
	successor  bytea
);
CREATE INDEX rotations_family ON rotations (family_id);
-- Only rotations still holding a sealed successor are indexed, so clearing
-- them after the grace period touches just those rows.
CREATE INDEX rotations_successor_pending ON rotations (rotated_at) WHERE successor IS NOT NULL;
