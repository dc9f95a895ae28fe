//! The interaction history: calls, meetings, emails, messages and notes. Activities are the
//! company's record of work with a client: a manager may correct their own for a limited time,
//! only those with the deletion right may delete (softly), and nothing depends on the author
//! staying active.

pub mod api;
pub mod model;
pub mod repo;
pub mod service;

pub use model::{Activity, ActivityFilter, ActivityPatch, ActivityRow, ActivityType, Direction, NewActivity, ENTITY};
pub use repo::{by_ids, get, list};
pub use service::{create, delete, update};
