DROP INDEX contact_points_phone_suffix_idx;
DROP INDEX contact_points_value_idx;
CREATE INDEX contact_points_value_idx ON contact_points (kind, value, client_id);
-- Cards get their phones and emails back in the search text when they are next written.
