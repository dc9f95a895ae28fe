ALTER TABLE events DROP CONSTRAINT events_pkey, ADD PRIMARY KEY (id);
CREATE INDEX events_feed_idx ON events (txid, id);
CREATE INDEX events_entity_idx ON events (entity_type, entity_id);

DROP INDEX clients_search_filters_idx;
CREATE INDEX clients_search_trgm_idx ON clients USING gin (search_text gin_trgm_ops);
CREATE INDEX clients_status_idx ON clients (status, id);
CREATE INDEX clients_channel_idx ON clients (channel, id);
CREATE INDEX clients_region_idx ON clients (region, id);
CREATE INDEX clients_industry_idx ON clients (industry, id);
ALTER TABLE clients ADD CONSTRAINT clients_channel_fkey FOREIGN KEY (channel) REFERENCES channels (code);

ALTER TABLE contact_points ADD COLUMN id BIGSERIAL PRIMARY KEY;
ALTER TABLE contact_points ADD CONSTRAINT contact_points_client_id_fkey
    FOREIGN KEY (client_id) REFERENCES clients (id) ON DELETE CASCADE;
