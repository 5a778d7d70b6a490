-- listen sessions
--
-- A `listen` session (`Store.openListenSession`) is a row of `webhooks` with `listen` = 1, so its
-- deliveries, attempts and log are a webhook's. Its holder is `listen_connection`, connected at
-- `listen_connected_at` and last seen at `listen_seen_at` (epoch ms). One session per name and
-- account: `webhooks_listen_name` is what two concurrent opens of one name conflict on.
--
-- `deliveries.listen` copies the webhook's flag at fan-out: only the session's connection claims
-- those deliveries (by its id, on `deliveries_webhook_due`), so `deliveries_due`, the head every
-- worker's claim and `nextDueAt` read, leaves them out. A disconnected session's waiting
-- deliveries are the oldest due rows and would otherwise sit at the head of every claim.

ALTER TABLE webhooks ADD COLUMN listen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN listen_connection TEXT;
ALTER TABLE webhooks ADD COLUMN listen_connected_at INTEGER;
ALTER TABLE webhooks ADD COLUMN listen_seen_at INTEGER;
CREATE UNIQUE INDEX webhooks_listen_name ON webhooks (account_id, name) WHERE listen = 1;

ALTER TABLE deliveries ADD COLUMN listen INTEGER NOT NULL DEFAULT 0;
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id)
  WHERE status = 'pending' AND listen = 0;
