//! Purchases (sales): what each client bought, when, for how much and with what margin. They
//! drive the segmentation and analytics; each write keeps the client's derived figures current.
//! Single writes and batches (`/sales/batch`, `/sync/sales`) go through one pipeline,
//! [`service::apply`].

pub mod api;
pub mod model;
pub mod repo;
pub mod service;

pub use model::{month_index, Sale};
pub use repo::by_ids;
