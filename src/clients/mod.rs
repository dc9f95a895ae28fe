//! Clients: the cards of the base, their search and lists, soft deletion and restoration, and
//! the operations on the base as a whole (duplicates and merge, reassignment, export, purge).
//! Rooms: `model`; `repo` (with the contact point index and the visibility rule);
//! `service` (card rules, with `base` and `export`); `api` (card handlers, with `base`).

pub mod api;
pub mod model;
pub mod repo;
pub mod service;

pub use repo::{contact_points, visibility};
pub use service::{base, export};
