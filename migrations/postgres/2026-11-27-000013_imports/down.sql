DROP TABLE import_rows;
DROP TABLE import_batches;
DROP TABLE import_files;
DROP TABLE imports;
