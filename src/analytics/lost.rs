//! The types of the lost-clients report: lost clients ranked by what they brought (margin, or
//! revenue) over the period — by default their whole history — or by their potential, with the
//! reason and the last contact. The ranking happens in the query (`repo::lost_clients`).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LostSort {
    Margin,
    Revenue,
    Potential,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LostClient {
    pub client_id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    pub channel: Option<String>,
    pub lost_reason: Option<String>,
    /// Margin over the period, a decimal amount.
    pub margin: String,
    /// Revenue over the period, a decimal amount.
    pub revenue: String,
    /// Estimated potential, a decimal amount (0 when unknown).
    pub potential: String,
    pub last_purchase_on: Option<NaiveDate>,
    /// The latest activity with the client.
    pub last_contact_at: Option<chrono::DateTime<chrono::Utc>>,
}
