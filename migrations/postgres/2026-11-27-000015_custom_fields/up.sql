-- Typed custom fields: the definitions of the keys a client, contact or deal may carry in its
-- custom_fields object, and an index of their values (for filters, for uniqueness the database
-- enforces, and to tell whether a select option is in use).
CREATE TABLE custom_fields (
    id BIGSERIAL PRIMARY KEY,
    entity TEXT NOT NULL,
    field_key TEXT NOT NULL,
    label TEXT NOT NULL,
    field_type TEXT NOT NULL,
    options TEXT NOT NULL DEFAULT '[]',
    required BOOLEAN NOT NULL DEFAULT FALSE,
    is_unique BOOLEAN NOT NULL DEFAULT FALSE,
    filterable BOOLEAN NOT NULL DEFAULT FALSE,
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (entity, field_key)
);
-- One row per defined value of a live record (a multiselect has one per option). `value` is the
-- normalised text compared by filters, `number` the numeric value ranges compare, and
-- `unique_value` is set only for unique fields: NULLs never collide, equal texts do.
CREATE TABLE custom_field_values (
    entity TEXT NOT NULL,
    record_id BIGINT NOT NULL,
    field_key TEXT NOT NULL,
    value TEXT NOT NULL,
    number DOUBLE PRECISION,
    unique_value TEXT
);
CREATE INDEX custom_field_values_value_idx ON custom_field_values (entity, field_key, value, record_id);
CREATE INDEX custom_field_values_number_idx ON custom_field_values (entity, field_key, number, record_id)
    WHERE number IS NOT NULL;
CREATE INDEX custom_field_values_record_idx ON custom_field_values (entity, record_id);
CREATE UNIQUE INDEX custom_field_values_unique_idx ON custom_field_values (entity, field_key, unique_value);
-- Contact persons get custom fields of their own, like clients and deals.
ALTER TABLE contacts ADD COLUMN custom_fields TEXT NOT NULL DEFAULT '{}';
