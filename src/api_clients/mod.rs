//! API clients: integrations (ERP sync, telephony, mailing providers) that get tokens with the
//! client-credentials grant. The secret is shown once and stored hashed.

pub mod api;
pub mod model;
pub mod repo;

pub use model::*;
