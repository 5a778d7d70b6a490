-- initial schema
--
-- Why the indexes look the way they do (sized for a million pending deliveries):
-- - `deliveries_due` (partial, pending only) serves the claim's oldest-due-first scan,
--   `nextDueAt` and `countPending`; finished deliveries never enter it.
-- - `deliveries_webhook_due` (partial, pending only) lets a claim walk webhook by webhook when one
--   capped endpoint's backlog would otherwise have to be scanned past.
-- - `deliveries_leased` (partial) counts live leases per webhook without touching idle rows.
-- - `(account_id, id)`-style indexes serve newest-first cursor pages; `(webhook_id, created_at)`
--   and `attempts (webhook_id, started_at)` serve stats.
-- Webhooks are hard-deleted; deliveries keep `webhook_id` without a foreign key so that their log
-- outlives the webhook (SPEC §4). Times are INTEGER epoch milliseconds from the injected clock.

CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  key_hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX api_keys_account ON api_keys (account_id);

CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  events TEXT NOT NULL,
  active INTEGER NOT NULL,
  disabled_reason TEXT,
  description TEXT,
  headers_enc TEXT,
  header_names TEXT NOT NULL,
  metadata TEXT NOT NULL,
  secret_enc TEXT NOT NULL,
  previous_secret_enc TEXT,
  previous_secret_expires_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_delivery_at INTEGER,
  last_delivery_status TEXT
);
CREATE INDEX webhooks_account ON webhooks (account_id, id);

CREATE TABLE events (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  event TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  body TEXT NOT NULL,
  deliveries INTEGER NOT NULL
);
CREATE INDEX events_account ON events (account_id, id);
CREATE INDEX events_account_event ON events (account_id, event, id);

CREATE TABLE idempotency_keys (
  account_id TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT,
  event_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE deliveries (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  event TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  status TEXT NOT NULL,
  attempt_count INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  last_status_code INTEGER,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  trigger TEXT NOT NULL DEFAULT 'scheduled',
  resume_at INTEGER,
  status_before TEXT,
  lease_owner TEXT,
  lease_until INTEGER
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_webhook_due ON deliveries (webhook_id, next_attempt_at, id)
  WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until, webhook_id) WHERE lease_owner IS NOT NULL;
CREATE INDEX deliveries_account ON deliveries (account_id, id);
CREATE INDEX deliveries_account_status ON deliveries (account_id, status, id);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);
CREATE INDEX deliveries_webhook_created ON deliveries (webhook_id, created_at);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE attempts (
  id TEXT PRIMARY KEY,
  delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
  account_id TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  status_code INTEGER,
  error TEXT,
  request_headers TEXT NOT NULL,
  response_headers TEXT NOT NULL,
  response_body TEXT,
  trigger TEXT NOT NULL,
  succeeded INTEGER NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, number);
CREATE INDEX attempts_webhook_started ON attempts (webhook_id, started_at);
