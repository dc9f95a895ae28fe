//! A client's timeline: activities, deal creations and stage changes, completed tasks (and
//! purchases) merged newest first. A page costs a fixed number of queries: one UNION for the
//! order, then one per kind of entry for the details.

pub mod api;
pub mod model;
pub mod repo;

pub use model::{EntryKind, TimelineEntry};
