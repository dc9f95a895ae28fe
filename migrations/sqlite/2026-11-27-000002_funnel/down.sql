DROP TABLE tasks;
DROP TABLE activities;
DROP TABLE deal_stage_history;
DROP TABLE deals;
DROP TABLE pipeline_stages;
DROP TABLE pipelines;
