DROP TRIGGER activities_mark_write ON activities;
DROP TRIGGER sales_mark_write ON sales;
DROP TRIGGER client_status_history_mark_write ON client_status_history;
DROP TRIGGER clients_mark_write ON clients;
DROP FUNCTION mark_write();
DROP TABLE write_marks;
DROP TABLE write_generation;
