//! Sales teams: a lead, members (a user may be in several teams) and the region or channel the
//! team covers. Managed by whoever manages the users.

pub mod api;
pub mod model;
pub mod repo;
pub mod service;

pub use model::{NewTeam, Team, TeamPatch};
pub use repo::{get, list};
pub use service::{create, delete, update};
