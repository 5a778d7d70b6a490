-- listen secret
--
-- The account's listen secret (`GET /v1/listen/secret`), encrypted with the service's key like
-- the webhooks' secrets. Null until the account first asks for it.
alter table accounts add column listen_secret_enc text;
