-- Integrations and protection of the base: the audit log, telephony routing, merge tombstones
-- and the key duplicate names are compared by.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    target_type TEXT,
    target_id BIGINT,
    address TEXT,
    details TEXT NOT NULL
);
CREATE INDEX audit_log_occurred_idx ON audit_log (occurred_at, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);

-- The log is append-only even for someone with SQL access through the application's account.
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

ALTER TABLE users ADD COLUMN phone_extension TEXT;
CREATE UNIQUE INDEX users_extension_idx ON users (phone_extension);

ALTER TABLE clients ADD COLUMN name_key TEXT;
CREATE INDEX clients_name_key_idx ON clients (region, name_key);

-- A merged-away client points at the client it was merged into.
CREATE TABLE client_merges (
    duplicate_id BIGINT PRIMARY KEY REFERENCES clients (id),
    survivor_id BIGINT NOT NULL REFERENCES clients (id),
    merged_by TEXT,
    merged_at TIMESTAMP NOT NULL
);
CREATE INDEX client_merges_survivor_idx ON client_merges (survivor_id);

-- One activity per telephony call id, whichever call event arrives first.
CREATE UNIQUE INDEX activities_call_idx ON activities (external_ref) WHERE external_ref LIKE 'call:%';
