-- Issues 11 and 12: tickets (store.Ticket), the short-lived secrets the IdP
-- hands out (reset and verification ids, twoFactorIds, trusted browsers,
-- WebAuthn challenges), stored as the SHA-256 of the secret; and the user's
-- second factors as one JSON document (store.User.MultiFactor).
CREATE TABLE tickets (
	hash           bytea       PRIMARY KEY,
	kind           text        NOT NULL,
	user_id        text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	application_id text        NOT NULL DEFAULT '',
	data           jsonb,                   -- NULL = none
	attempts       integer     NOT NULL DEFAULT 0,
	created_at     timestamptz,             -- NULL = Go zero time
	expires_at     timestamptz NOT NULL
);
-- Serves DeleteTickets, CountTickets and the cascade from users.
CREATE INDEX tickets_user ON tickets (user_id, kind, created_at);
CREATE INDEX tickets_expires ON tickets (expires_at);

ALTER TABLE users ADD COLUMN multi_factor jsonb; -- NULL = none
