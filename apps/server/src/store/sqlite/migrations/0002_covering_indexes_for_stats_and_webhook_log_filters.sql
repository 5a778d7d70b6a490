-- covering indexes for stats and webhook log filters
--
-- Index-only scans for the stats of one webhook and its delivery-log filters (covering columns);
-- see docs/performance.md for the measurement.

DROP INDEX deliveries_webhook_created;
CREATE INDEX deliveries_webhook_created ON deliveries (webhook_id, created_at, status);
CREATE INDEX deliveries_webhook_status ON deliveries (webhook_id, status, id);
DROP INDEX attempts_webhook_started;
CREATE INDEX attempts_webhook_started ON attempts (webhook_id, started_at, duration_ms, succeeded);
