-- response bodies of any bytes, fair claims
--
-- Attempts record the encoding of their response body: `utf8` text, or `base64` of bytes that
-- are not (PostgreSQL text cannot hold NUL). Rows from before hold decoded text and a null
-- encoding, read as `utf8` (rows.ts). The fair claims are the functions' `p_fair` argument
-- (../functions/claim-due.sql).
alter table attempts add column response_body_encoding text;
