-- webhook health and retention
--
-- A webhook's health (`WebhookHealth` in ../../types.ts), kept by the completions once per
-- webhook per batch (`af_record_health`, functions/webhook-health.sql), and the certificate its
-- endpoint last presented. `certificate_warned_days` is the smallest of 14, 7, 1 that
-- `webhook.certificate_expiring` was sent for, so each is sent once per certificate.
--
-- `webhook_notices` holds the health changes the account must be told of until
-- `operations/notices.ts` turns them into operational events (`publishWebhookNotices`), written
-- in the transaction that made the change so that none is lost or told twice. Constant
-- defaults: the new columns do not rewrite the table.
alter table webhooks
  add column health_failing_since bigint,
  add column health_consecutive_failures int not null default 0,
  add column health_last_success_at bigint,
  add column health_last_failure_at bigint,
  add column certificate_expires_at bigint,
  add column certificate_warned_days int;
-- Auto-disable's sweep reads only the failing webhooks.
create index webhooks_failing on webhooks (health_failing_since)
  where active and health_consecutive_failures > 0 and deleted_at is null;

create table webhook_notices (
  id bigint generated always as identity primary key,
  account_id text not null references accounts(id) on delete cascade,
  webhook_id text not null,
  url text not null,
  kind text not null,
  at bigint not null,
  failing_since bigint,
  failed_deliveries int,
  last_error text,
  reason text,
  host text,
  expires_at bigint,
  days_left int
);

-- Retention deletes the rows of deleted webhooks (and listen sessions) once no delivery names
-- them (sql/retention.ts): it finds them here, not by reading every webhook.
create index webhooks_deleted on webhooks (deleted_at) where deleted_at is not null;
