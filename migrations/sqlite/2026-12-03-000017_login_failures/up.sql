-- Failed logins, one row per account key and per address key, shared by every server process
-- so that the login throttle holds across replicas and restarts.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    failed_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_key_idx ON login_failures (key, failed_at);
CREATE INDEX login_failures_at_idx ON login_failures (failed_at);
