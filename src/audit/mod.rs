//! The audit log: who exported, deleted, purged, merged or reassigned what, when and from where —
//! and who tried without the right. Append-only: nothing in the API changes or deletes it, and
//! the database refuses updates and deletes too.

pub mod api;
pub mod model;
pub mod repo;
pub mod service;

pub use model::{AuditEntry, AuditFilter, AuditRow, Entry};
pub use repo::{list, record};
pub use service::{guarded, require};
