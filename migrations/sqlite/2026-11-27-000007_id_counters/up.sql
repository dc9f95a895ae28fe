-- The last id handed out per table. SQLite's rowid would reuse the id of the newest row once it
-- is deleted (a purchase, say), and sync partners that saw its tombstone in the change feed would
-- then see a different record under the same id. PostgreSQL's sequences never go back.
CREATE TABLE id_counters (
    table_name TEXT PRIMARY KEY NOT NULL,
    last_id BIGINT NOT NULL
);
INSERT INTO id_counters (table_name, last_id) SELECT 'clients', COALESCE(MAX(id), 0) FROM clients;
INSERT INTO id_counters (table_name, last_id) SELECT 'sales', COALESCE(MAX(id), 0) FROM sales;
