//! Integration tests: the real server over HTTP against a real database (SQLite by default,
//! PostgreSQL when `TEST_DATABASE_URL` is set).

mod analytics;
mod auth;
mod automations;
mod backup;
mod campaigns;
mod cli;
mod clients;
mod contacts;
mod contract;
mod custom_fields;
mod funnel;
mod hardening;
mod helpers;
mod idempotency;
mod imports;
mod imports_records;
mod ops;
mod outage;
mod outbox;
mod protection;
mod protocol;
mod rate_limits;
mod receiver;
mod report_memo;
mod roles;
mod sales;
mod schema_names;
mod sync;
mod teams;
mod telephony;
mod users;
mod webhooks;
