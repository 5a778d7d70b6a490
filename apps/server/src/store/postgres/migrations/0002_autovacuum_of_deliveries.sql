-- autovacuum of deliveries
--
-- Every attempt rewrites a delivery row: vacuum it well before the default 20 % of dead rows,
-- and keep its statistics fresh, since the claim's plan relies on them.

alter table deliveries set (
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_analyze_scale_factor = 0.01
);
