-- response bodies of any bytes
--
-- `utf8`: response_body is the text received; `base64`: the bytes received were not text (NUL,
-- invalid UTF-8). Null on rows written before: their bodies were decoded text.

ALTER TABLE attempts ADD COLUMN response_body_encoding TEXT;
