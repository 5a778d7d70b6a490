-- api key scopes and audit log
--
-- API keys get a name, scopes (`full`, `read`, `events:write`), an optional expiry, the time they
-- were last used (written at most once a minute per key, not per request) and a revocation time.
-- A revoked key stays as a row, so the audit log's `actor_key_id` keeps naming a record; it is
-- never listed or accepted again. Keys that existed before get `full`. Constant defaults: the
-- new columns do not rewrite the table.
--
-- The audit log: one row per configuration change of an account, newest first by id
-- (`aud_…` ULIDs), filtered by action or target. `changes` never holds a secret value (the API
-- layer builds it). `actor_key_id` is null for the admin key.
alter table api_keys
  add column name text not null default 'default',
  add column scopes text[] not null default '{full}',
  add column expires_at bigint,
  add column last_used_at bigint,
  add column revoked_at bigint;
drop index api_keys_account;
create index api_keys_account on api_keys (account_id, id desc) where revoked_at is null;

create table audit_log (
  id text primary key,
  account_id text not null,
  action text not null,
  actor_key_id text,
  target_id text,
  changes jsonb not null,
  created_at bigint not null
);
create index audit_log_account on audit_log (account_id, id desc);
create index audit_log_account_action on audit_log (account_id, action, id desc);
create index audit_log_account_target on audit_log (account_id, target_id, id desc);
