-- Brute-force counters become consecutive (no window that resets by
-- itself) and exist per account (device_id '') and per device token of the
-- account (device_id = the token's id), so a trusted browser's failures
-- count against that browser only.
ALTER TABLE users DROP COLUMN failure_count, DROP COLUMN failure_window_start;
CREATE TABLE login_failures (
	user_id         text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	device_id       text        NOT NULL DEFAULT '',
	count           integer     NOT NULL,
	last_failure_at timestamptz NOT NULL,
	PRIMARY KEY (user_id, device_id)
);
