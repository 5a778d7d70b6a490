-- initial schema
--
-- Times are `bigint` epoch milliseconds, not `timestamptz`: the store's interface speaks epoch ms
-- from an injected clock (tests run in 2024 on a fake clock), so every comparison is against a
-- value the caller passed in, never the database's `now()`. Storing ms keeps those comparisons
-- index-friendly and exact, with no conversion on either side; `to_timestamp(ms / 1000.0)` turns
-- them into dates for a human at `psql`.

create table accounts (
  id text primary key,
  name text not null,
  created_at bigint not null
);

create table api_keys (
  id text primary key,
  account_id text not null,
  key_hash text not null unique,
  prefix text not null,
  created_at bigint not null
);
create index api_keys_account on api_keys (account_id);

-- A deleted webhook stays as a tombstone (deleted_at set): its deliveries' log stays readable,
-- and a worker that claims a delivery of a deleted webhook sees the tombstone (webhook null).
create table webhooks (
  id text primary key,
  account_id text not null,
  name text not null,
  url text not null,
  events text[] not null,
  active boolean not null,
  disabled_reason text,
  description text,
  headers_enc text,
  header_names text[] not null default '{}',
  metadata jsonb not null default '{}',
  secret_enc text not null,
  previous_secret_enc text,
  previous_secret_expires_at bigint,
  created_at bigint not null,
  updated_at bigint not null,
  deleted_at bigint
);
create index webhooks_account on webhooks (account_id, id desc) where deleted_at is null;

create table events (
  id text primary key,
  account_id text not null,
  event text not null,
  timestamp bigint not null,
  body text not null,
  deliveries integer not null
);
create index events_account on events (account_id, id desc);

-- Idempotency keys live in the database so that two api processes given the same key at the
-- same moment create one event: the second insert waits on the first one's unique-index entry.
create table idempotency_keys (
  account_id text not null,
  key text not null,
  request_hash text not null,
  event_id text not null,
  created_at bigint not null,
  primary key (account_id, key)
);
create index idempotency_keys_created on idempotency_keys (created_at);

-- A delivery is claimable when pending, due (next_attempt_at <= now) and not leased
-- (lease_until null or past). A lease is a visibility timeout: a worker that dies loses it
-- when lease_until passes, and another worker claims the delivery again.
create table deliveries (
  id text primary key,
  account_id text not null,
  event_id text not null references events (id),
  event text not null,
  webhook_id text not null,
  status text not null check (status in ('pending', 'succeeded', 'failed')),
  attempt_count integer not null default 0,
  next_attempt_at bigint,
  last_status_code integer,
  last_error text,
  created_at bigint not null,
  updated_at bigint not null,
  lease_owner text,
  lease_until bigint,
  -- What the next attempt is for; 'scheduled' unless a manual retry or a recover asked for it.
  trigger text not null default 'scheduled',
  -- Before a manual/recover attempt: the status and the due time to go back to.
  status_before text,
  resume_at bigint
);
create index deliveries_due on deliveries (next_attempt_at) where status = 'pending';
create index deliveries_webhook_due on deliveries (webhook_id, next_attempt_at, id)
  where status = 'pending';
create index deliveries_leased on deliveries (webhook_id, lease_until) where lease_owner is not null;
create index deliveries_lease_owner on deliveries (lease_owner) where lease_owner is not null;
create index deliveries_account on deliveries (account_id, id desc);
create index deliveries_webhook on deliveries (webhook_id, id desc);
create index deliveries_webhook_created on deliveries (webhook_id, created_at);
create index deliveries_event on deliveries (event_id);

create table attempts (
  id text primary key,
  delivery_id text not null references deliveries (id),
  account_id text not null,
  webhook_id text not null,
  number integer not null,
  started_at bigint not null,
  duration_ms integer not null,
  status_code integer,
  error text,
  request_headers jsonb not null,
  response_headers jsonb not null,
  response_body text,
  trigger text not null,
  succeeded boolean not null
);
create index attempts_delivery on attempts (delivery_id, number);
-- Stats over a window and the webhook's last delivery read this index.
create index attempts_webhook_started on attempts (webhook_id, started_at);
