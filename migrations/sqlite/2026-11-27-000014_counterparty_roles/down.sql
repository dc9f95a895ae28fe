DROP INDEX clients_roles_idx;
ALTER TABLE clients DROP COLUMN roles;
