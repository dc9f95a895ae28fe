//! Segmentation and analytics computed from live data: ABC/XYZ, ABCDE, Pareto, the funnel,
//! reactivation, lost clients, the census and the summary. Aggregation happens in the database;
//! what comes back is at most one row per client, classified in one pass.
//!
//! `model` holds the scope and report types, `repo` the queries, the report files (`abc_xyz`,
//! `abcde`, `pareto`, `funnel`, `reactivation`, `lost`, `census`, `summary`) and `shares` the
//! pure computations, `service` the rules that assemble a report, `params` the endpoints' query
//! parameters and `api` the endpoints.

pub mod abc_xyz;
pub mod abcde;
pub mod api;
pub mod census;
pub mod funnel;
pub mod lost;
pub mod model;
pub mod params;
pub mod pareto;
pub mod reactivation;
pub mod repo;
pub mod service;
pub mod shares;
pub mod summary;

pub use model::{month_label, month_start, today, ClientLabel, ClientSums, Measure, ReportScope};
pub use repo::{client_names, client_sums};
pub use service::percent;
pub use shares::{basis_points, share_at_most, top_count};
