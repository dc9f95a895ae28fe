ALTER TABLE import_rows RENAME COLUMN record_id TO client_id;
