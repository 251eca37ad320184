-- The transactional outbox of webhook deliveries (AUD-8): a revocation and
-- the events announcing it commit in one transaction. Senders in several
-- processes claim rows with FOR UPDATE SKIP LOCKED and lease them by moving
-- available_at forward (a lease that ends gives the row back).
CREATE TABLE webhook_outbox (
	id             text        PRIMARY KEY,
	application_id text        NOT NULL DEFAULT '',
	payload        bytea       NOT NULL,
	created_at     timestamptz NOT NULL,
	available_at   timestamptz NOT NULL DEFAULT '-infinity',
	attempts       integer     NOT NULL DEFAULT 0,
	done           text[]      NOT NULL DEFAULT '{}',
	claim          text        NOT NULL DEFAULT ''
);
CREATE INDEX webhook_outbox_available ON webhook_outbox (available_at, created_at);
