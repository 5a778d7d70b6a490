-- fewer delivery indexes
--
-- Every index on `deliveries` is written by every delivery: an entry when it is inserted, and
-- again when a column it holds changes (the lease, the status). Five indexes served the delivery
-- log, three of them holding the status, which every outcome changes. Now:
-- - (account_id, id): the account's log, newest first;
-- - (webhook_id, id, created_at, status): a webhook's log, and its stats read from the index
--   alone. A time window is also a range of ids: a delivery's id is a ULID made at its
--   `created_at` or later (ids.ts, `idBefore`), so `created_at >= t` implies
--   `id >= idBefore('dlv', t)`;
-- - the failed deliveries alone, per account and per webhook (the log filtered by `failed`,
--   recover): a delivery enters them only when it fails, so they cost the others nothing. A
--   bound `status = ?` uses them too: SQLite plans a statement again when a value its plan
--   depended on changes.
-- A status filter other than `failed` steps through the newest rows of the log, where pending and
-- succeeded deliveries are. Measured (docs/performance.md, issue 14): `npm run bench:sqlite-ops`
-- and `npm run bench:log-reads`.
DROP INDEX deliveries_account;
DROP INDEX deliveries_account_status;
DROP INDEX deliveries_webhook;
DROP INDEX deliveries_webhook_status;
DROP INDEX deliveries_webhook_created;
CREATE INDEX deliveries_account ON deliveries (account_id, id);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id, created_at, status);
CREATE INDEX deliveries_account_failed ON deliveries (account_id, id) WHERE status = 'failed';
CREATE INDEX deliveries_webhook_failed ON deliveries (webhook_id, id) WHERE status = 'failed';
