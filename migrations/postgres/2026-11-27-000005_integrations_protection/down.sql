DROP INDEX activities_call_idx;
DROP INDEX clients_name_key_idx;
DROP TABLE client_merges;
ALTER TABLE clients DROP COLUMN name_key;
DROP INDEX users_extension_idx;
ALTER TABLE users DROP COLUMN phone_extension;
DROP TRIGGER audit_log_no_change ON audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE audit_log;
