-- Outbound webhooks fed from the event log, their deliveries (the outbox), and campaigns sent
-- through mailing providers.
ALTER TABLE events ADD COLUMN message_id TEXT;

CREATE TABLE webhooks (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    description TEXT,
    event_types TEXT NOT NULL,
    mailing_provider BOOLEAN NOT NULL DEFAULT FALSE,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_until TIMESTAMP,
    disabled_reason TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One row per message to send to one endpoint. `message_id` is the `webhook-id` header: the
-- same on every attempt, so receivers can drop repeats.
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    last_attempt_at TIMESTAMP,
    response_status INTEGER,
    response_excerpt TEXT,
    last_error TEXT,
    duration_ms INTEGER,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at, id);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_message_idx ON webhook_deliveries (message_id);

CREATE TABLE campaigns (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    channel TEXT NOT NULL,
    segment_id BIGINT REFERENCES segments (id),
    client_ids TEXT,
    subject TEXT,
    template TEXT NOT NULL,
    merge_fields TEXT NOT NULL DEFAULT '[]',
    provider TEXT NOT NULL,
    scheduled_at TIMESTAMP,
    status TEXT NOT NULL,
    launched_at TIMESTAMP,
    skipped TEXT,
    created_by TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX campaigns_created_idx ON campaigns (created_at, id);

CREATE TABLE campaign_recipients (
    id BIGSERIAL PRIMARY KEY,
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    client_id BIGINT NOT NULL REFERENCES clients (id),
    address TEXT NOT NULL,
    batch INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_at TIMESTAMP NOT NULL,
    detail TEXT
);
CREATE UNIQUE INDEX campaign_recipients_unique_idx ON campaign_recipients (campaign_id, client_id);
CREATE INDEX campaign_recipients_status_idx ON campaign_recipients (campaign_id, status, id);
CREATE INDEX campaign_recipients_client_idx ON campaign_recipients (client_id);

-- Every status a recipient went through: the campaign's trace in the client's timeline.
CREATE TABLE campaign_recipient_events (
    id BIGSERIAL PRIMARY KEY,
    recipient_id BIGINT NOT NULL REFERENCES campaign_recipients (id),
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id),
    client_id BIGINT NOT NULL REFERENCES clients (id),
    status TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    detail TEXT
);
CREATE INDEX campaign_recipient_events_client_idx ON campaign_recipient_events (client_id, occurred_at);

-- Provider callbacks already processed, by their webhook-id.
CREATE TABLE provider_messages (
    provider TEXT NOT NULL,
    message_id TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (provider, message_id)
);
