DROP TABLE id_counters;
