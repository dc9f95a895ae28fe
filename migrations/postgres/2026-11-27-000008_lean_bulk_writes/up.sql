-- What a bulk load of new clients paid for without getting anything back (each row of a sync
-- batch wrote about twenty index entries and ran two foreign-key queries):
--
-- * `contact_points` is a derived index of the phones and emails on cards and contacts, written
--   in the transaction of its card and never addressed by row: no surrogate id. Its foreign key
--   to `clients` goes too: cards are never deleted (a purge anonymises them) and the check ran a
--   query and locked the card for every phone and email inserted with it.
-- * Channels are never deleted, only deactivated, and the server checks a card's channel against
--   the active ones before writing it: the foreign key made every card of every batch lock the
--   same few channel rows, which concurrent batches turned into multixacts.
-- * The list filters on few distinct values (status, channel, region, industry) share the GIN
--   index of the `q` search instead of four b-trees: a list is always ordered by name or a date,
--   which none of those b-trees could give, and GIN keeps such values as compact posting lists
--   extended in bulk.
-- * Nothing reads events by entity; the change feed reads them in (txid, id) order, which now
--   is the primary key (one index instead of three).
CREATE EXTENSION IF NOT EXISTS btree_gin;

ALTER TABLE contact_points DROP CONSTRAINT contact_points_client_id_fkey;
ALTER TABLE contact_points DROP COLUMN id;

ALTER TABLE clients DROP CONSTRAINT clients_channel_fkey;
DROP INDEX clients_status_idx, clients_channel_idx, clients_region_idx, clients_industry_idx,
    clients_search_trgm_idx;
CREATE INDEX clients_search_filters_idx ON clients
    USING gin (search_text gin_trgm_ops, status, channel, region, industry);

DROP INDEX events_entity_idx, events_feed_idx;
ALTER TABLE events DROP CONSTRAINT events_pkey, ADD PRIMARY KEY (txid, id);
