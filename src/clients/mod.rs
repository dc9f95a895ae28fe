//! Clients: the cards of the base, their search and lists, soft deletion and restoration.

pub mod api;
pub mod base;
pub mod base_api;
pub mod contact_points;
pub mod export;
pub mod model;
pub mod repo;
pub mod service;
pub mod visibility;
