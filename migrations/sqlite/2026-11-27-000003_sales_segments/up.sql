-- Purchases, the per-client figures derived from them, client status history and segments.
CREATE TABLE sales (
    id INTEGER PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES clients (id),
    sold_on DATE NOT NULL,
    -- year * 12 + month - 1: groups purchases by calendar month the same way on every backend.
    sold_month INTEGER NOT NULL,
    amount BIGINT NOT NULL,
    cost BIGINT,
    margin BIGINT,
    currency TEXT NOT NULL,
    document_number TEXT,
    channel TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sales_client_idx ON sales (client_id, sold_on);
CREATE INDEX sales_sold_idx ON sales (sold_on, client_id);
CREATE INDEX sales_month_idx ON sales (sold_month, client_id);
CREATE INDEX sales_updated_idx ON sales (updated_at, id);
CREATE INDEX sales_document_idx ON sales (document_number);

ALTER TABLE clients ADD COLUMN first_purchase_on DATE;
ALTER TABLE clients ADD COLUMN last_purchase_on DATE;
ALTER TABLE clients ADD COLUMN purchase_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN purchase_days BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN revenue_total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN margin_total BIGINT NOT NULL DEFAULT 0;
CREATE INDEX clients_last_purchase_idx ON clients (last_purchase_on);

-- Every change of a client's status, for the movement between active, potential and lost.
CREATE TABLE client_status_history (
    id INTEGER PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES clients (id),
    from_status TEXT,
    to_status TEXT NOT NULL,
    changed_by TEXT,
    changed_at TIMESTAMP NOT NULL
);
CREATE INDEX client_status_history_changed_idx ON client_status_history (changed_at, client_id);
CREATE INDEX client_status_history_client_idx ON client_status_history (client_id);

CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT,
    filter TEXT NOT NULL,
    owner_id BIGINT REFERENCES users (id),
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX segments_name_idx ON segments (name, id);
