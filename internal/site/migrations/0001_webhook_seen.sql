-- The site frame's own tables in the app's database, versioned in
-- site_schema_version, apart from the app's migrations (PRAGMA
-- user_version), so neither numbering disturbs the other.

-- Webhook event ids handled, kept until their timestamp window has passed,
-- so a replay is refused after a restart too (AUD-10).
CREATE TABLE webhook_seen (
	id    TEXT    PRIMARY KEY,
	until INTEGER NOT NULL -- unix milliseconds
) STRICT;
CREATE INDEX webhook_seen_until ON webhook_seen (until);
