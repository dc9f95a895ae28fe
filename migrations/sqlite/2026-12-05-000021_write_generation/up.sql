-- The write generation: a number that grows with every committed write to what the sales reports
-- read (clients, their status history, sales, activities), so a process can tell that a report
-- it computed earlier still holds. SQLite has one writer at a time, so every written row adds one
-- to the counter directly; `write_marks` stays empty here and exists so that both databases
-- answer the same query.
CREATE TABLE write_generation (
    id INTEGER PRIMARY KEY,
    folded BIGINT NOT NULL
);
INSERT INTO write_generation (id, folded) VALUES (1, 0);
CREATE TABLE write_marks (
    n INTEGER NOT NULL DEFAULT 1
);

CREATE TRIGGER clients_mark_insert AFTER INSERT ON clients
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;

CREATE TRIGGER clients_mark_update AFTER UPDATE ON clients
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;

CREATE TRIGGER clients_mark_delete AFTER DELETE ON clients
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;

CREATE TRIGGER client_status_history_mark_insert AFTER INSERT ON client_status_history
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;

CREATE TRIGGER client_status_history_mark_update AFTER UPDATE ON client_status_history
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;

CREATE TRIGGER client_status_history_mark_delete AFTER DELETE ON client_status_history
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;

CREATE TRIGGER sales_mark_insert AFTER INSERT ON sales
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;

CREATE TRIGGER sales_mark_update AFTER UPDATE ON sales
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;

CREATE TRIGGER sales_mark_delete AFTER DELETE ON sales
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;

CREATE TRIGGER activities_mark_insert AFTER INSERT ON activities
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;

CREATE TRIGGER activities_mark_update AFTER UPDATE ON activities
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;

CREATE TRIGGER activities_mark_delete AFTER DELETE ON activities
BEGIN
    UPDATE write_generation SET folded = folded + 1 WHERE id = 1;
END;
