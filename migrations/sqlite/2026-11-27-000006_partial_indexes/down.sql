DROP INDEX clients_inn_idx;
CREATE INDEX clients_inn_idx ON clients (inn);
DROP INDEX clients_last_purchase_idx;
CREATE INDEX clients_last_purchase_idx ON clients (last_purchase_on);
DROP INDEX contact_points_contact_idx;
CREATE INDEX contact_points_contact_idx ON contact_points (contact_id);
