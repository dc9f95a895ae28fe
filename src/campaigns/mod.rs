//! Campaigns: a personal mailing to a segment or a list of clients through a mailing provider.
//! Launching snapshots the audience into recipients — only clients with consent and a usable
//! address — and queues them to the provider in signed batches through the outbox. The
//! provider's status callbacks update each recipient, the client's consent and its addresses.

pub mod api;
pub mod model;
pub mod repo;
pub mod service;

pub use model::RecipientStatus;
