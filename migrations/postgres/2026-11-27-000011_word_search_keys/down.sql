-- The name keys this release filled stay; those of cards it never started over stay empty
-- (an earlier release does not fill them: such cards are missing from duplicates by name).
DROP INDEX clients_stale_keys_idx;
