ALTER TABLE contact_points ADD CONSTRAINT contact_points_contact_id_fkey
    FOREIGN KEY (contact_id) REFERENCES contacts (id) ON DELETE CASCADE;
ALTER TABLE clients ADD CONSTRAINT clients_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id);
DROP INDEX clients_name_key_idx;
CREATE INDEX clients_name_key_idx ON clients (region, name_key);
DROP INDEX contact_points_email_idx;
CREATE INDEX contact_points_value_idx ON contact_points (kind, value text_pattern_ops, client_id);
