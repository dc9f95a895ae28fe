CREATE INDEX events_entity_idx ON events (entity_type, entity_id);
