-- The sales funnel: pipelines and their stages, deals with their stage history, the
-- interaction history (activities) and tasks.
CREATE TABLE pipelines (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE pipeline_stages (
    id INTEGER PRIMARY KEY,
    pipeline_id BIGINT NOT NULL REFERENCES pipelines (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    probability INTEGER NOT NULL,
    position INTEGER NOT NULL,
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX pipeline_stages_pipeline_idx ON pipeline_stages (pipeline_id, position);

CREATE TABLE deals (
    id INTEGER PRIMARY KEY,
    client_id BIGINT NOT NULL REFERENCES clients (id),
    contact_id BIGINT REFERENCES contacts (id),
    pipeline_id BIGINT NOT NULL REFERENCES pipelines (id),
    stage_id BIGINT NOT NULL REFERENCES pipeline_stages (id),
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    amount BIGINT NOT NULL DEFAULT 0,
    currency TEXT NOT NULL,
    owner_id BIGINT REFERENCES users (id),
    expected_close_date DATE,
    source TEXT,
    lost_reason TEXT,
    custom_fields TEXT NOT NULL DEFAULT '{}',
    closed_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE INDEX deals_client_idx ON deals (client_id, id);
CREATE INDEX deals_pipeline_stage_idx ON deals (pipeline_id, stage_id, id);
CREATE INDEX deals_stage_idx ON deals (stage_id);
CREATE INDEX deals_owner_idx ON deals (owner_id, updated_at, id);
CREATE INDEX deals_status_idx ON deals (status, id);
CREATE INDEX deals_amount_idx ON deals (amount, id);
CREATE INDEX deals_expected_close_idx ON deals (expected_close_date, id);
CREATE INDEX deals_title_idx ON deals (title, id);
CREATE INDEX deals_created_idx ON deals (created_at, id);
CREATE INDEX deals_updated_idx ON deals (updated_at, id);

-- Every stage a deal entered, with who moved it and the owner and channel at that moment:
-- the funnel analytics read conversion per manager and per channel from here.
CREATE TABLE deal_stage_history (
    id INTEGER PRIMARY KEY,
    deal_id BIGINT NOT NULL REFERENCES deals (id),
    pipeline_id BIGINT NOT NULL REFERENCES pipelines (id),
    from_stage_id BIGINT REFERENCES pipeline_stages (id),
    to_stage_id BIGINT NOT NULL REFERENCES pipeline_stages (id),
    owner_id BIGINT REFERENCES users (id),
    channel TEXT,
    changed_by TEXT,
    changed_at TIMESTAMP NOT NULL
);
CREATE INDEX deal_stage_history_deal_idx ON deal_stage_history (deal_id, changed_at, id);
CREATE INDEX deal_stage_history_changed_idx ON deal_stage_history (changed_at, pipeline_id);

CREATE TABLE activities (
    id INTEGER PRIMARY KEY,
    activity_type TEXT NOT NULL,
    direction TEXT,
    occurred_at TIMESTAMP NOT NULL,
    duration_seconds INTEGER,
    subject TEXT,
    body TEXT,
    outcome TEXT,
    client_id BIGINT NOT NULL REFERENCES clients (id),
    contact_id BIGINT REFERENCES contacts (id),
    deal_id BIGINT REFERENCES deals (id),
    author_id BIGINT REFERENCES users (id),
    external_ref TEXT,
    recording_url TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE INDEX activities_client_idx ON activities (client_id, occurred_at, id);
CREATE INDEX activities_deal_idx ON activities (deal_id, occurred_at);
CREATE INDEX activities_contact_idx ON activities (contact_id);
CREATE INDEX activities_author_idx ON activities (author_id, occurred_at);
CREATE INDEX activities_occurred_idx ON activities (occurred_at, id);
CREATE INDEX activities_type_idx ON activities (activity_type, occurred_at);
CREATE INDEX activities_external_idx ON activities (external_ref);

CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    task_type TEXT NOT NULL,
    description TEXT,
    due_at TIMESTAMP NOT NULL,
    assignee_id BIGINT REFERENCES users (id),
    client_id BIGINT REFERENCES clients (id),
    deal_id BIGINT REFERENCES deals (id),
    status TEXT NOT NULL,
    completed_at TIMESTAMP,
    completed_activity_id BIGINT REFERENCES activities (id),
    created_by TEXT,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX tasks_assignee_idx ON tasks (assignee_id, status, due_at);
CREATE INDEX tasks_client_idx ON tasks (client_id, completed_at);
CREATE INDEX tasks_deal_idx ON tasks (deal_id);
CREATE INDEX tasks_due_idx ON tasks (status, due_at, id);
CREATE INDEX tasks_created_idx ON tasks (created_at, id);
CREATE INDEX tasks_due_at_idx ON tasks (due_at, id);

-- The default funnel from the articles: first call → meeting → interested → proposal sent →
-- invoice issued → contract signed → paid (won), plus lost.
INSERT INTO pipelines (name, is_default, version, created_at, updated_at)
VALUES ('Sales', TRUE, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
INSERT INTO pipeline_stages (pipeline_id, name, kind, probability, position, archived, created_at, updated_at)
WITH s (name, kind, probability, position) AS (VALUES
    ('First call', 'open', 10, 1),
    ('Meeting', 'open', 20, 2),
    ('Interested', 'open', 35, 3),
    ('Proposal sent', 'open', 50, 4),
    ('Invoice issued', 'open', 70, 5),
    ('Contract signed', 'open', 90, 6),
    ('Paid', 'won', 100, 7),
    ('Lost', 'lost', 0, 8)
)
SELECT p.id, s.name, s.kind, s.probability, s.position, FALSE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
FROM pipelines p, s
WHERE p.is_default;
