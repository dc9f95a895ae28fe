-- Automations: rules that work the base by themselves (a schedule or events → conditions →
-- actions), the history of their runs, and what each has already done to which subject in
-- which occurrence (the key that keeps it from acting twice).
CREATE TABLE automations (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    builtin BOOLEAN NOT NULL DEFAULT FALSE,
    trigger TEXT NOT NULL,
    conditions TEXT NOT NULL,
    actions TEXT NOT NULL,
    -- When it was last enabled: a schedule does not run for slots before it.
    enabled_at TIMESTAMP,
    -- How far an event automation has read the event log.
    cursor_txid BIGINT NOT NULL DEFAULT 0,
    cursor_id BIGINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP
);
CREATE UNIQUE INDEX automations_key_idx ON automations (key) WHERE deleted_at IS NULL;
CREATE INDEX automations_enabled_idx ON automations (enabled, id) WHERE deleted_at IS NULL;

CREATE TABLE automation_runs (
    id INTEGER PRIMARY KEY,
    automation_id BIGINT NOT NULL REFERENCES automations (id),
    trigger TEXT NOT NULL,
    -- A scheduled slot's day, manual:<uuid>, events:<first>-<last>: one run per slot.
    occurrence TEXT NOT NULL,
    as_of TIMESTAMP NOT NULL,
    status TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    -- A running run whose lease has passed was abandoned (its process died): it is resumed.
    lease_until TIMESTAMP,
    subjects_matched BIGINT NOT NULL DEFAULT 0,
    processed BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    actions_taken TEXT NOT NULL DEFAULT '{}',
    errors TEXT NOT NULL DEFAULT '[]',
    error_count BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX automation_runs_occurrence_idx ON automation_runs (automation_id, occurrence);
CREATE INDEX automation_runs_automation_idx ON automation_runs (automation_id, id);
CREATE INDEX automation_runs_running_idx ON automation_runs (lease_until) WHERE status = 'running';

CREATE TABLE automation_effects (
    automation_id BIGINT NOT NULL,
    subject TEXT NOT NULL,
    occurrence TEXT NOT NULL,
    run_id BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (automation_id, subject, occurrence)
);

-- The built-in playbooks, disabled until an administrator enables them (each editable).
INSERT INTO automations (key, name, enabled, builtin, trigger, conditions, actions, version, created_at, updated_at)
VALUES
    ('reactivation', 'Reactivation of sleeping clients', FALSE, TRUE, '{"type": "schedule", "every": "day", "at": "06:00", "time_zone": "Europe/Moscow", "subject": "client"}', '{"client_filter": {"status": ["active"]}, "client": {"purchase_overdue_factor": 1.5}}', '[{"action": "create_task", "type": "reactivation", "title": "Reactivate {{client.name}}: no purchase for {{client.days_since_last_purchase}} days", "description": "Usual interval {{client.interval_days}} days; revenue at risk {{client.revenue_at_risk}} a year.", "due_in": "P1D", "assignee": "owner"}]', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('lost_reanimation', 'Reanimation of lost clients', FALSE, TRUE, '{"type": "schedule", "every": "week", "weekday": "mon", "at": "07:00", "time_zone": "Europe/Moscow", "subject": "client"}', '{"client_filter": {"status": ["lost"]}, "client": {"lost_for_days_min": 90, "days_since_last_contact_min": 60}}', '[{"action": "create_task", "type": "call_back", "title": "Call {{client.name}}: lost {{client.lost_for_days}} days ago, margin earned {{client.margin_total}}", "due_in": "P2D", "assignee": "owner"}]', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('payment_follow_up', 'Payment follow-up of issued invoices', FALSE, TRUE, '{"type": "schedule", "every": "day", "at": "06:00", "time_zone": "Europe/Moscow", "subject": "deal"}', '{"deal": {"stage_name": ["Invoice issued"], "days_in_stage_min": 5}}', '[{"action": "create_task", "type": "payment_follow_up", "title": "Follow up the payment of {{deal.title}} ({{client.name}}): invoice issued {{deal.days_in_stage}} days ago", "due_in": "PT4H", "assignee": "deal_owner"}]', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('post_sale', 'Post-sale follow-up', FALSE, TRUE, '{"type": "event", "event_types": ["deal.stage_changed", "sale.created"]}', '{"event": {"to_stage_kind": ["won"]}, "sale": {"first_of_client": true}}', '[{"action": "create_task", "type": "post_sale", "title": "After-sale call to {{client.name}}: how is it going?", "due_in": "P7D", "assignee": "owner"}]', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('potential_activation', 'Activation of potential clients', FALSE, TRUE, '{"type": "schedule", "every": "week", "weekday": "mon", "at": "07:00", "time_zone": "Europe/Moscow", "subject": "client"}', '{"client_filter": {"status": ["potential"]}, "client": {"days_since_last_contact_min": 30}}', '[{"action": "create_task", "type": "call_back", "title": "Call {{client.name}}: no contact for {{client.days_since_last_contact}} days", "due_in": "P1D", "assignee": "owner"}]', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('birthdays', 'Birthdays of contact persons', FALSE, TRUE, '{"type": "schedule", "every": "day", "at": "06:00", "time_zone": "Europe/Moscow", "subject": "contact"}', '{"contact": {"birthday_within_days": 3}}', '[{"action": "create_task", "type": "congratulate", "title": "Congratulate {{contact.name}} ({{client.name}}) on the birthday on {{contact.birthday}}", "due_in": "PT2H", "assignee": "owner"}]', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('holidays', 'Holiday greetings', FALSE, TRUE, '{"type": "schedule", "every": "year", "at": "09:00", "time_zone": "Europe/Moscow", "subject": "client", "dates": [{"on": "02-16", "occasion": "23 February"}, {"on": "03-01", "occasion": "8 March"}, {"on": "12-20", "occasion": "the New Year"}]}', '{"client_filter": {"status": ["active"]}}', '[{"action": "create_task", "type": "congratulate", "title": "Greet {{client.name}} before {{occasion}}", "due_in": "P5D", "assignee": "owner"}]', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
    ('unknown_caller', 'Call back missed callers', FALSE, TRUE, '{"type": "event", "event_types": ["call.missed"]}', '{}', '[{"action": "create_task", "type": "call_back", "title": "Call back {{call.number}} ({{client.name}}): a missed call", "due_in": "PT1H", "assignee": "call_user"}]', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
