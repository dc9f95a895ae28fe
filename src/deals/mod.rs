//! Deals: a client's opportunity moving through a pipeline's stages, with every move recorded.

pub mod api;
pub mod model;
pub mod repo;
pub mod service;
