DROP TABLE automation_effects;
DROP TABLE automation_runs;
DROP TABLE automations;
