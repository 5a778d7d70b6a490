-- api key scopes and audit log
--
-- API keys get a name, scopes (a JSON array of `full`, `read`, `events:write`), an optional
-- expiry, the time they were last used (written at most once a minute per key, not per request)
-- and a revocation time. A revoked key stays as a row, so the audit log's `actor_key_id` keeps
-- naming a record; it is never listed or accepted again. Keys that existed before get `full`.
--
-- The audit log: one row per configuration change of an account, newest first by id
-- (`aud_…` ULIDs), filtered by action or target. `changes` is a JSON object that never holds a
-- secret value (the API layer builds it). `actor_key_id` is null for the admin key.

ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT 'default';
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '["full"]';
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;
DROP INDEX api_keys_account;
CREATE INDEX api_keys_account ON api_keys (account_id, id DESC) WHERE revoked_at IS NULL;

CREATE TABLE audit_log (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  action TEXT NOT NULL,
  actor_key_id TEXT,
  target_id TEXT,
  changes TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX audit_log_account ON audit_log (account_id, id DESC);
CREATE INDEX audit_log_account_action ON audit_log (account_id, action, id DESC);
CREATE INDEX audit_log_account_target ON audit_log (account_id, target_id, id DESC);
