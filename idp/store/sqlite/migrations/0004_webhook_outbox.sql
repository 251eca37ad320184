-- The transactional outbox of webhook deliveries (AUD-8): a revocation and
-- the events announcing it commit in one transaction, and senders lease
-- rows by moving available_at forward (a lease that ends gives the row
-- back). Times are unix milliseconds; done is a JSON array of target keys.
CREATE TABLE webhook_outbox (
	id             TEXT    PRIMARY KEY,
	application_id TEXT    NOT NULL DEFAULT '',
	payload        BLOB    NOT NULL,
	created_at     INTEGER NOT NULL,
	available_at   INTEGER NOT NULL DEFAULT 0,
	attempts       INTEGER NOT NULL DEFAULT 0,
	done           TEXT    NOT NULL DEFAULT '[]',
	claim          TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX webhook_outbox_available ON webhook_outbox (available_at, created_at);
