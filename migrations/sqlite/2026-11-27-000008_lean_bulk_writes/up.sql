-- Nothing reads events by entity (the change feed reads them in id order). The other changes
-- of this step on PostgreSQL concern its bulk-load path and have no counterpart here.
DROP INDEX events_entity_idx;
