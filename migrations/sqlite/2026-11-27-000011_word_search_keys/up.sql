-- `q` compares names word by word: `ё` as `е`, without quotes or punctuation, on the card and
-- in the term (which also drops its legal forms). Every card's name key and search text are
-- recomputed by the server when it starts (the rules are Unicode's, which SQL cannot apply the
-- same way on both backends): a card without a name key is one to recompute, and this partial
-- index finds them, empty once they are done. Purged cards (empty search text) are left out.
UPDATE clients SET name_key = NULL WHERE search_text <> '';
CREATE INDEX clients_stale_keys_idx ON clients (id) WHERE name_key IS NULL AND search_text <> '';
