//! Segments: saved filters over the base that evaluate live — by card fields, purchase figures,
//! revenue over a period, ABC/XYZ and ABCDE classes, or "the top N by revenue" (the VIP 100).

pub mod api;
pub mod model;
pub mod repo;
pub mod service;
