-- New cards wait in the trigram index's pending list until it fills or a vacuum merges it, and
-- every `q=` search reads that whole list: at the default 4 MB a freshly synced base made the
-- index scan of a search 2.5× slower (EXPLAIN ANALYZE, 130 000 cards, 5 136 pending entries).
-- 256 kB keeps the batching of bulk writes and bounds what a search reads.
ALTER INDEX clients_search_filters_idx SET (gin_pending_list_limit = 256);
