-- Gatehouse session store schema, version 1. Table names carry a gatehouse_
-- prefix because the store may share a database with the app's own tables.
-- Times are timestamptz (NULL = Go zero time).

CREATE TABLE gatehouse_sessions (
	key                 text        PRIMARY KEY, -- SHA-256 of the session id, never the id
	user_id             text        NOT NULL,
	claims              bytea,
	access_token        text        NOT NULL DEFAULT '',
	access_token_expiry timestamptz,
	refresh_token_id    text        NOT NULL DEFAULT '',
	auth_time           timestamptz,
	created_at          timestamptz,
	last_seen           timestamptz,
	expires_at          timestamptz NOT NULL,
	absolute_expiry     timestamptz,
	ip                  text        NOT NULL DEFAULT '',
	user_agent          text        NOT NULL DEFAULT ''
);
-- ListByUser / DeleteByUser.
CREATE INDEX gatehouse_sessions_user ON gatehouse_sessions (user_id);
-- The collector walks this index in batches, never the table.
CREATE INDEX gatehouse_sessions_expires ON gatehouse_sessions (expires_at);

-- Refresh coordination (S11): a claim (has_result false) or a stored result.
CREATE TABLE gatehouse_refresh (
	key        text        PRIMARY KEY,
	has_result boolean     NOT NULL DEFAULT false,
	result     bytea,
	expires_at timestamptz NOT NULL
);
CREATE INDEX gatehouse_refresh_expires ON gatehouse_refresh (expires_at);
