-- webhook health
--
-- A webhook's health (`WebhookHealth` in ../../types.ts), kept by the completions once per
-- webhook per batch (`sql/webhook-health.ts`), and the certificate its endpoint last presented.
-- `certificate_warned_days` is the smallest of 14, 7, 1 that `webhook.certificate_expiring` was
-- sent for, so each is sent once per certificate.
--
-- `webhook_notices` holds the health changes the account must be told of until
-- `operations/notices.ts` turns them into operational events (`publishWebhookNotices`), written
-- in the transaction that made the change so that none is lost or told twice.
ALTER TABLE webhooks ADD COLUMN health_failing_since INTEGER;
ALTER TABLE webhooks ADD COLUMN health_consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN health_last_success_at INTEGER;
ALTER TABLE webhooks ADD COLUMN health_last_failure_at INTEGER;
ALTER TABLE webhooks ADD COLUMN certificate_expires_at INTEGER;
ALTER TABLE webhooks ADD COLUMN certificate_warned_days INTEGER;
-- Auto-disable's sweep reads only the failing webhooks.
CREATE INDEX webhooks_failing ON webhooks (health_failing_since)
  WHERE active = 1 AND health_consecutive_failures > 0;

CREATE TABLE webhook_notices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  webhook_id TEXT NOT NULL,
  url TEXT NOT NULL,
  kind TEXT NOT NULL,
  at INTEGER NOT NULL,
  failing_since INTEGER,
  failed_deliveries INTEGER,
  last_error TEXT,
  reason TEXT,
  host TEXT,
  expires_at INTEGER,
  days_left INTEGER
);
