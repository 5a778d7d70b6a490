-- rate limits
--
-- Rate limits shared by every api process (issue 16): one row per bucket, `api:<key id>` or
-- `events:<account id>`, holding its GCRA theoretical arrival time in epoch ms (`tat`) and
-- whether the last request was allowed (`allowed`, read back by the same statement). See
-- apps/server/src/rate-limit/gcra.ts and store/postgres/sql/rate-limits.ts.
--
-- Unlogged: no WAL for a write on every limited request; a crash empties the table, which only
-- refills every bucket (more allowed for a moment, never less). A bucket's row is small and there
-- is one per API key and account with a limit configured.
create unlogged table rate_limits (
  key text primary key,
  tat double precision not null,
  allowed boolean not null
);
