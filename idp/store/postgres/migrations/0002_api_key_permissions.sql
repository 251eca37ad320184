-- AUD-13: API keys carry FusionAuth-style permissions (JSON:
-- {"endpoints":{"/api/jwt/refresh":["DELETE"]}}). '' = no permissions =
-- super key, which is what every key created before this migration was.
ALTER TABLE api_keys ADD COLUMN permissions TEXT NOT NULL DEFAULT '';
