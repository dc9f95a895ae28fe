-- Counterparty roles: a card is a client (the default), a supplier, a partner or a competitor,
-- or several, kept sorted and comma-separated. Client analytics, campaigns and automations
-- take the cards whose roles include client (no other role's name contains the word).
ALTER TABLE clients ADD COLUMN roles TEXT NOT NULL DEFAULT 'client';
-- The few cards with another role than client alone, for ?role=.
CREATE INDEX clients_roles_idx ON clients (roles, id) WHERE roles <> 'client';
