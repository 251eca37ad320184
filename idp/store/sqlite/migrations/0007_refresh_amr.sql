-- The login's authentication methods (RFC 8176 amr), carried to every token
-- a refresh-token family mints. JSON array; NULL = none (families written
-- before this migration, or a login that recorded no method).
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT;
