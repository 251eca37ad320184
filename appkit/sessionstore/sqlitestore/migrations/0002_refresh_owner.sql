-- AUD-18: a refresh claim names its owner (an app process's random id), so
-- the owner can renew it as a short lease and a claim of a process that
-- died lapses within the IdP's grace period. '' once a result is stored.
ALTER TABLE refresh_claims ADD COLUMN owner TEXT NOT NULL DEFAULT '';
