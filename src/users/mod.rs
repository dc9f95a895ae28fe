//! People who work with the base: their accounts, roles and deactivation.

pub mod api;
pub mod model;
pub mod repo;
