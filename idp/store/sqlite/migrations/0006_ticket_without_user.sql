-- Issue 12: a passkey login's challenge (a TicketWebAuthn) names no user
-- until the assertion does (discoverable credentials), so tickets.user_id
-- may be NULL. SQLite cannot drop a NOT NULL: the table is rebuilt.
CREATE TABLE tickets_new (
	hash           BLOB    PRIMARY KEY,
	kind           TEXT    NOT NULL,
	user_id        TEXT    REFERENCES users (id) ON DELETE CASCADE,
	application_id TEXT    NOT NULL,
	data           TEXT,             -- JSON; NULL = none
	attempts       INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	expires_at     INTEGER NOT NULL
) STRICT;
INSERT INTO tickets_new (hash, kind, user_id, application_id, data, attempts, created_at, expires_at)
	SELECT hash, kind, user_id, application_id, data, attempts, created_at, expires_at FROM tickets;
DROP TABLE tickets;
ALTER TABLE tickets_new RENAME TO tickets;
-- Serves DeleteTickets, CountTickets and the cascade from users.
CREATE INDEX tickets_user ON tickets (user_id, kind, created_at);
CREATE INDEX tickets_expires ON tickets (expires_at);
