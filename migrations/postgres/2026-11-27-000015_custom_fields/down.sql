ALTER TABLE contacts DROP COLUMN custom_fields;
DROP TABLE custom_field_values;
DROP TABLE custom_fields;
