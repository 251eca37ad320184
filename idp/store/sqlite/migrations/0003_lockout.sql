-- Brute-force counters become consecutive (no window that resets by
-- itself) and exist per account (device_id '') and per device token of the
-- account (device_id = the token's id), so a trusted browser's failures
-- count against that browser only.
DROP TABLE login_failures;
CREATE TABLE login_failures (
	user_id         TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	device_id       TEXT    NOT NULL,
	count           INTEGER NOT NULL,
	last_failure_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, device_id)
) STRICT;
