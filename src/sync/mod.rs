//! ERP / 1C synchronisation: batch upserts of clients (and, through the sales pipeline, of
//! purchases) by the source system's own ids, and the change feed read from the event log.

pub mod api;
pub mod model;
pub mod repo;
pub mod service;

pub use model::{parse_client_item, ClientItem};
pub use service::apply_clients;
