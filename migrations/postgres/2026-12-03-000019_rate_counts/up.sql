-- Requests counted per rate-limit class, caller and fixed window (its start, in Unix seconds):
-- every replica adds its own counts here and reads back the total, so a limit holds across them.
CREATE TABLE rate_counts (
    class TEXT NOT NULL,
    subject TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    PRIMARY KEY (class, subject, window_start)
);
CREATE INDEX rate_counts_window_idx ON rate_counts (window_start);
