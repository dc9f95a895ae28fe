-- The write generation: a number that grows with every committed write to what the sales reports
-- read (clients, their status history, sales, activities), so a replica can tell that a report
-- it computed earlier still holds. Each writing statement adds a row to `write_marks` instead of
-- bumping one shared counter, so concurrent writers never wait on each other's row lock; the
-- housekeeping loop folds the marks into `write_generation.folded` now and then, which keeps the
-- sum (the generation) unchanged.
CREATE TABLE write_generation (
    id INTEGER PRIMARY KEY,
    folded BIGINT NOT NULL
);
INSERT INTO write_generation (id, folded) VALUES (1, 0);
CREATE TABLE write_marks (
    n INTEGER NOT NULL DEFAULT 1
);

CREATE FUNCTION mark_write() RETURNS trigger AS $$
BEGIN
    INSERT INTO write_marks DEFAULT VALUES;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER clients_mark_write AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION mark_write();
CREATE TRIGGER client_status_history_mark_write AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON client_status_history
    FOR EACH STATEMENT EXECUTE FUNCTION mark_write();
CREATE TRIGGER sales_mark_write AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sales
    FOR EACH STATEMENT EXECUTE FUNCTION mark_write();
CREATE TRIGGER activities_mark_write AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON activities
    FOR EACH STATEMENT EXECUTE FUNCTION mark_write();
