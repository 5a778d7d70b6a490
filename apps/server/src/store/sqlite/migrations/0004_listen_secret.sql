-- listen secret
--
-- The account's listen secret (`GET /v1/listen/secret`), encrypted with the service's key like
-- the webhooks' secrets. Null until the account first asks for it.

ALTER TABLE accounts ADD COLUMN listen_secret_enc TEXT;
