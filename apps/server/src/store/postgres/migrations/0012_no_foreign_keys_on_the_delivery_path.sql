-- no foreign keys on the delivery path
--
-- A foreign key is checked by a trigger at the end of each statement that inserts into its
-- table: one lookup, with a key-share lock, of the referenced row per row inserted. On the
-- delivery path that is every delivery (its event: ten locks of one row at fan-out 10) and every
-- attempt (its delivery, updated by the same statement a moment later). Profiled (perf, fan-out
-- 10, docs/performance.md, issue 14, sixth pass) those triggers were 8 % of the database's CPU.
-- Both rows are written by the store alone, which already keeps what the keys guarded:
-- - a delivery is inserted in the statement that inserts its event (sql/insert-events.ts);
-- - an attempt is inserted only for a delivery that exists (functions/complete-attempts.sql
--   checks it in the same statement) and is still leased to the writer;
-- - deletes go children first (sql/retention.ts, sql/accounts.ts `purgeAccount`).
alter table deliveries drop constraint deliveries_event_id_fkey;
alter table attempts drop constraint attempts_delivery_id_fkey;
