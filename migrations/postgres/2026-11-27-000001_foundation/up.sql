-- Foundation: people who use the base, the clients and their contact persons, the event log.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deactivated_at TIMESTAMP
);
CREATE INDEX users_created_idx ON users (created_at, id);
CREATE INDEX users_name_idx ON users (name, id);
CREATE INDEX users_role_idx ON users (role, id);

CREATE TABLE api_clients (
    id BIGSERIAL PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE channels (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE clients (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    legal_name TEXT,
    inn TEXT,
    status TEXT NOT NULL,
    lost_reason TEXT,
    channel TEXT REFERENCES channels (code),
    region TEXT,
    industry TEXT,
    source TEXT,
    owner_id BIGINT REFERENCES users (id),
    tags TEXT NOT NULL DEFAULT '[]',
    notes TEXT,
    custom_fields TEXT NOT NULL DEFAULT '{}',
    phones TEXT NOT NULL DEFAULT '[]',
    emails TEXT NOT NULL DEFAULT '[]',
    addresses TEXT NOT NULL DEFAULT '[]',
    mailing_consent BOOLEAN NOT NULL DEFAULT FALSE,
    estimated_potential BIGINT,
    search_text TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE INDEX clients_name_idx ON clients (name, id);
CREATE INDEX clients_created_idx ON clients (created_at, id);
CREATE INDEX clients_updated_idx ON clients (updated_at, id);
CREATE INDEX clients_owner_idx ON clients (owner_id, updated_at, id);
CREATE INDEX clients_status_idx ON clients (status, id);
CREATE INDEX clients_channel_idx ON clients (channel, id);
CREATE INDEX clients_region_idx ON clients (region, id);
CREATE INDEX clients_industry_idx ON clients (industry, id);
CREATE INDEX clients_inn_idx ON clients (inn);
CREATE INDEX clients_search_trgm_idx ON clients USING gin (search_text gin_trgm_ops);

CREATE TABLE client_tags (
    client_id BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (tag, client_id)
);
CREATE INDEX client_tags_client_idx ON client_tags (client_id);

CREATE TABLE contacts (
    id BIGSERIAL PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES clients (id),
    name TEXT NOT NULL,
    position TEXT,
    is_decision_maker BOOLEAN NOT NULL DEFAULT FALSE,
    phones TEXT NOT NULL DEFAULT '[]',
    emails TEXT NOT NULL DEFAULT '[]',
    birthday DATE,
    preferences TEXT,
    notes TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE INDEX contacts_client_idx ON contacts (client_id, id);

-- Normalised phones and emails of clients and their contacts: the index behind telephony
-- lookup, duplicate detection and search. Kept in step with the JSON on the rows by the repos.
CREATE TABLE contact_points (
    id BIGSERIAL PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    contact_id BIGINT REFERENCES contacts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX contact_points_value_idx ON contact_points (kind, value, client_id);
CREATE INDEX contact_points_client_idx ON contact_points (client_id);
CREATE INDEX contact_points_contact_idx ON contact_points (contact_id);

-- One id per source system for any record (`{"1c": "…", "shop": "…"}`).
CREATE TABLE external_ids (
    entity_type TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    -- Lookups come with a batch of ids: leading with them keeps the index usable before the
    -- planner has statistics (an initial load).
    PRIMARY KEY (external_id, source, entity_type)
);
CREATE UNIQUE INDEX external_ids_entity_idx ON external_ids (entity_id, entity_type, source);

-- The durable, ordered event log: written in the transaction of the change it records; feeds
-- webhooks and the sync change feed. `txid` lets readers skip rows of still-open transactions.
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    txid BIGINT NOT NULL DEFAULT txid_current(),
    event_type TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    actor TEXT,
    payload TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_feed_idx ON events (txid, id);
CREATE INDEX events_entity_idx ON events (entity_type, entity_id);

CREATE TABLE idempotency_keys (
    principal TEXT NOT NULL,
    key TEXT NOT NULL,
    request_path TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER,
    response_headers TEXT,
    response_body TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

INSERT INTO channels (code, name, active, created_at) VALUES
    ('retail', 'Retail stores', TRUE, CURRENT_TIMESTAMP),
    ('chain', 'Retail chains', TRUE, CURRENT_TIMESTAMP),
    ('online_store', 'Online stores', TRUE, CURRENT_TIMESTAMP),
    ('wholesale', 'Wholesale', TRUE, CURRENT_TIMESTAMP),
    ('b2c', 'End customers (B2C)', TRUE, CURRENT_TIMESTAMP),
    ('b2g', 'Government (B2G)', TRUE, CURRENT_TIMESTAMP);
