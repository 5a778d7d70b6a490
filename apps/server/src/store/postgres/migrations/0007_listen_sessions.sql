-- listen sessions
--
-- A `listen` session (`Store.openListenSession`) is a row of `webhooks` with `listen` set, so its
-- deliveries, attempts and log are a webhook's. Its holder is `listen_connection`, connected at
-- `listen_connected_at` and last seen at `listen_seen_at` (epoch ms). One live session per name
-- and account (a deleted one is a tombstone and frees its name): `webhooks_listen_name` is the
-- conflict target of `openListenSession`'s upsert, so two concurrent opens end with one session.
--
-- `deliveries.listen` copies the webhook's flag at fan-out: only the session's connection claims
-- those deliveries (by its id: af_refill, on `deliveries_webhook_due`), so `deliveries_due`, the
-- head of every worker's claim (af_claim_due) and of `nextDueAt`, leaves them out. A disconnected
-- session's waiting deliveries are the oldest due rows and would otherwise sit at the head of
-- every claim. Constant defaults: the new columns do not rewrite the tables.
alter table webhooks
  add column listen boolean not null default false,
  add column listen_connection text,
  add column listen_connected_at bigint,
  add column listen_seen_at bigint;
create unique index webhooks_listen_name on webhooks (account_id, name)
  where listen and deleted_at is null;

alter table deliveries add column listen boolean not null default false;
drop index deliveries_due;
create index deliveries_due on deliveries (next_attempt_at) where status = 'pending' and not listen;
