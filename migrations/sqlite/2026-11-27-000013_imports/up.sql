-- Imports of spreadsheets: the uploaded file, its mapping and progress, and per row what the
-- run did (the card created or the fields it replaced, or why the row was rejected), which
-- the errors report and the revert read.
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    state TEXT NOT NULL,
    file_name TEXT NOT NULL,
    format TEXT NOT NULL,
    sheet TEXT,
    size_bytes BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    -- JSON: the header texts with sample values.
    file_columns TEXT NOT NULL,
    -- JSON: mapping, mode, match_on, defaults, values.
    settings TEXT NOT NULL,
    -- Rows per batch, fixed when the run starts: every process cuts the file the same way.
    batch_rows BIGINT NOT NULL DEFAULT 1000,
    processed BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    unchanged BIGINT NOT NULL DEFAULT 0,
    skipped BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    failure TEXT,
    -- JSON: what the revert did.
    reverted TEXT,
    created_by TEXT NOT NULL,
    started_by TEXT,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    reverted_at TIMESTAMP,
    -- A running import whose lease has passed was abandoned (its process died): it is resumed.
    lease_until TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX imports_running_idx ON imports (lease_until) WHERE state = 'running';

CREATE TABLE import_files (
    import_id BIGINT PRIMARY KEY REFERENCES imports (id) ON DELETE CASCADE,
    content BLOB NOT NULL
);

-- The batches applied: one row each, in the batch's own transaction, so that no batch (and
-- no row) is applied twice whichever process or worker gets to it.
CREATE TABLE import_batches (
    import_id BIGINT NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    first_row BIGINT NOT NULL,
    row_count BIGINT NOT NULL,
    PRIMARY KEY (import_id, first_row)
);

CREATE TABLE import_rows (
    import_id BIGINT NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_no BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    client_id BIGINT,
    -- JSON: the previous values of the fields an update replaced.
    previous TEXT,
    -- The card's version the row left: a revert restores only cards still at it.
    version_after BIGINT,
    -- JSON: the field errors of a rejected or skipped row.
    reasons TEXT,
    reverted BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (import_id, row_no)
);
