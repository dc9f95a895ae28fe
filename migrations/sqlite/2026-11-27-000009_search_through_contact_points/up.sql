-- Nothing to do on SQLite: the trigram and suffix indexes of this step are PostgreSQL's, and
-- SQLite cards get their new search text from the recomputation of step 000011. The step exists
-- here too so that both trees carry the same versions.
SELECT 1;
