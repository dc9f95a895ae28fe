//! clientbase: a self-hosted CRM backend for a company's client base.

pub mod api_clients;
pub mod auth;
pub mod channels;
pub mod clients;
pub mod config;
pub mod contact_points;
pub mod contacts;
pub mod db;
pub mod error;
pub mod events;
pub mod extract;
pub mod http;
pub mod idempotency;
pub mod inn;
pub mod metrics;
pub mod money;
pub mod openapi;
pub mod ops;
pub mod pagination;
pub mod startup;
pub mod telemetry;
pub mod users;
