-- Nothing to do on SQLite: the hash index and the dropped foreign keys of this step are
-- PostgreSQL's. The step exists here too so that both trees carry the same versions.
SELECT 1;
