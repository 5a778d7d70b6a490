-- fewer delivery indexes
--
-- Every update of a delivery's row writes a new entry in every index of `deliveries` whose
-- predicate the new row meets (the lease and the outcome change indexed columns, so neither is a
-- HOT update): a full index costs three entries per delivery. Two go:
-- - deliveries_webhook_created: a webhook's stats and its log in a time window read
--   deliveries_webhook instead, now (webhook_id, id desc, created_at): the window is also a
--   range of ids (a delivery's id is a ULID made at its `created_at` or later: ids.ts,
--   `idBefore`), and `created_at` is checked in the index;
-- - deliveries_lease_owner: a worker's leases are named by id (renew, release), and "every
--   lease of this owner" (releasing them all) reads deliveries_leased, which holds only the
--   deliveries in flight.
-- Two come, holding the failed deliveries alone (the log filtered by `failed`, recover, which
-- read every delivery of the account or the webhook before): a delivery enters them only when it
-- fails, so they cost the others nothing.
-- Measured (docs/performance.md, issue 14): `npm run bench:pg-ops`, `npm run bench:log-reads`.
drop index deliveries_webhook_created;
drop index deliveries_lease_owner;
drop index deliveries_webhook;
create index deliveries_webhook on deliveries (webhook_id, id desc, created_at);
create index deliveries_account_failed on deliveries (account_id, id desc) where status = 'failed';
create index deliveries_webhook_failed on deliveries (webhook_id, id desc) where status = 'failed';
