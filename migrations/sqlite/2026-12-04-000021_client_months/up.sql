-- Each client's sales summed per calendar month, kept current in the transaction that changes
-- the sales: the analytics reports read whole months from here instead of every sale.
CREATE TABLE client_months (
    client_id BIGINT NOT NULL REFERENCES clients (id),
    month INTEGER NOT NULL,
    revenue BIGINT NOT NULL,
    margin BIGINT NOT NULL,
    purchases BIGINT NOT NULL,
    PRIMARY KEY (client_id, month)
);
-- A period's months by index only (SQLite covers with the key columns).
CREATE INDEX client_months_month_idx ON client_months (month, client_id, revenue, margin, purchases);
INSERT INTO client_months (client_id, month, revenue, margin, purchases)
SELECT client_id, sold_month, SUM(amount), COALESCE(SUM(margin), 0), COUNT(*) FROM sales GROUP BY client_id, sold_month;
