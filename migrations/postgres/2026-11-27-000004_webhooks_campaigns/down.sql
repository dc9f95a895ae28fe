DROP TABLE provider_messages;
DROP TABLE campaign_recipient_events;
DROP TABLE campaign_recipients;
DROP TABLE campaigns;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
ALTER TABLE events DROP COLUMN message_id;
