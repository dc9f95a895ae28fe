-- Phones and emails leave the trigram index: each took a dozen to two dozen trigram entries
-- in the GIN index every new card writes to, while the contact points already hold them
-- normalised. `q` now finds an email by its beginning and a phone by its trailing digits (the
-- whole number in any format, or the local number), each through a b-tree:
-- text_pattern_ops serves LIKE 'prefix%' whatever the database collation, and `=` as before.
DROP INDEX contact_points_value_idx;
CREATE INDEX contact_points_value_idx ON contact_points (kind, value text_pattern_ops, client_id);
CREATE INDEX contact_points_phone_suffix_idx ON contact_points (reverse(value) text_pattern_ops)
    WHERE kind = 'phone';
UPDATE clients SET search_text = concat_ws(E'\n', lower(name), lower(legal_name), inn)
    WHERE search_text <> '';
