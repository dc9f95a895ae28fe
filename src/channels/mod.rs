//! Sales channels: the configurable reference list every client and every analysis is cut by.

pub mod api;
pub mod model;
pub mod repo;

pub use model::{Channel, ChannelPatch, ChannelRow, NewChannel};
pub use repo::active_codes;
