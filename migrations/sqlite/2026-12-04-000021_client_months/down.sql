DROP TABLE client_months;
