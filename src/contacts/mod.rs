//! Contact persons of a client: who to call, their position and whether they decide (ЛПР).
//! Visibility follows the client: a manager reaches only the contacts of clients they own.

pub mod api;
pub mod model;
pub mod repo;
pub mod service;

pub use model::{Contact, ContactPatch, ContactRow, NewContact, ENTITY};
pub use repo::{get, list};
pub use service::{create, delete, update};
