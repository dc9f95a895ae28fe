-- Each contact point now writes one index entry instead of two for a phone, and the name key
-- one entry that costs half as much:
--
-- * a phone is found by its reversed digits (the whole number for an exact match, its trailing
--   digits for a search), so the suffix index serves both and phones leave the value index;
--   what is left of that index holds emails only, found by their beginning or whole.
-- * duplicate names are looked up by equal name keys only (the groups themselves come from a
--   scan of the whole table): a hash index answers that, and costs less to keep than the
--   b-tree on (region, name_key), which that lookup could not even use.
-- * users are never deleted (they are deactivated, their clients reassigned) and a card's owner
--   is checked against the active users before it is written; contact persons are deleted only
--   by a purge, after their contact points. The two foreign keys queued a trigger for every
--   card and every phone and email inserted, even when empty.
DROP INDEX contact_points_value_idx;
CREATE INDEX contact_points_email_idx ON contact_points (value text_pattern_ops) WHERE kind = 'email';
DROP INDEX clients_name_key_idx;
CREATE INDEX clients_name_key_idx ON clients USING hash (name_key);
ALTER TABLE clients DROP CONSTRAINT clients_owner_id_fkey;
ALTER TABLE contact_points DROP CONSTRAINT contact_points_contact_id_fkey;
