-- Issue 12: a passkey login's challenge (a TicketWebAuthn) names no user
-- until the assertion does (discoverable credentials), so tickets.user_id
-- may be NULL.
ALTER TABLE tickets ALTER COLUMN user_id DROP NOT NULL;
