-- Issues 11 and 12: tickets (store.Ticket), the short-lived secrets the IdP
-- hands out (reset and verification ids, twoFactorIds, trusted browsers,
-- WebAuthn challenges), stored as the SHA-256 of the secret; and the user's
-- second factors as one JSON document (store.User.MultiFactor).
CREATE TABLE tickets (
	hash           BLOB    PRIMARY KEY,
	kind           TEXT    NOT NULL,
	user_id        TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	application_id TEXT    NOT NULL,
	data           TEXT,             -- JSON; NULL = none
	attempts       INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	expires_at     INTEGER NOT NULL
) STRICT;
-- Serves DeleteTickets, CountTickets and the cascade from users.
CREATE INDEX tickets_user ON tickets (user_id, kind, created_at);
CREATE INDEX tickets_expires ON tickets (expires_at);

ALTER TABLE users ADD COLUMN multi_factor TEXT; -- JSON; NULL = none
