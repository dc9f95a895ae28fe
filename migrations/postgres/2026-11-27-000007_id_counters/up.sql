-- Nothing to do on PostgreSQL: its sequences never hand out an id twice. SQLite keeps the last
-- id per table in id_counters from this step on (see the SQLite tree); the step exists here too
-- so that both trees carry the same versions.
SELECT 1;
