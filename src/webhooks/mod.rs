//! Outbound webhooks. Events recorded in the event log are fanned out, in the same transaction,
//! into deliveries for every active endpoint that subscribes to them (the transactional
//! outbox, `events::outbox`); the worker in every replica claims and sends them, signed per
//! Standard Webhooks. Rooms: `model`, `repo`, `api`; `deliveries` holds the delivery log,
//! `signing` the signatures and `worker` the sender.

pub mod api;
pub mod deliveries;
pub mod model;
pub mod repo;
pub mod signing;
pub mod worker;

pub use crate::events::outbox::envelope;
pub use model::*;
pub use repo::*;
