-- A row of an import names the record it made or changed: a client, a contact or a sale.
ALTER TABLE import_rows RENAME COLUMN client_id TO record_id;
