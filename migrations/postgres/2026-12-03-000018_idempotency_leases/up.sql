-- A claimed key is held by the process running its request (owner) until lease_until, which that
-- process keeps extending while the request runs; a key whose process died is free again once
-- its lease runs out.
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;
ALTER TABLE idempotency_keys ADD COLUMN lease_until TIMESTAMP;
CREATE INDEX idempotency_keys_owner_idx ON idempotency_keys (owner) WHERE status_code IS NULL;
