//! Access tokens for users and API clients: the OAuth 2.0 token endpoint and its grants. Its
//! own room because it reads both `users` and `api_clients`, which themselves use `auth`.

pub mod api;
pub mod model;
pub mod service;
