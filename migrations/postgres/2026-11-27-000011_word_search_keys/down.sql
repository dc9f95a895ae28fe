DROP INDEX clients_stale_keys_idx;
