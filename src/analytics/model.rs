//! The analytics types that do not depend on a query: the scope of a report, the measure, a
//! client's sums and label, month helpers, and the report bodies the endpoints return.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::abc_xyz::{Abc, Cell, Thresholds, Xyz};
use super::abcde::{Abcde, Cutoffs};
use super::census::{Census, Incomplete};
use super::funnel::{FunnelGroup, GroupBy};
use super::lost::LostClient;
use super::pareto::ParetoResult;
use super::reactivation::Candidate;
use crate::error::ApiError;
use crate::sales::month_index;

/// Which clients and which days an analysis covers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportScope {
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period (included).
    pub to: NaiveDate,
    pub channel: Option<String>,
    pub owner_id: Option<i64>,
    pub region: Option<String>,
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

impl ReportScope {
    /// `to` defaults to today and `from` to a year before it; a manager is always limited to
    /// the clients they own.
    pub fn new(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        channel: Option<String>,
        owner_id: Option<i64>,
        region: Option<String>,
        own_clients_only: Option<i64>,
    ) -> Result<ReportScope, ApiError> {
        let to = to.unwrap_or_else(today);
        let from = from.unwrap_or_else(|| to - Duration::days(364));
        if from > to {
            return Err(ApiError::query("from", "must not be after `to`"));
        }
        let owner_id = match (own_clients_only, owner_id) {
            (Some(me), Some(other)) if other != me => {
                return Err(ApiError::query("owner_id", "managers see their own clients only"))
            }
            (Some(me), _) => Some(me),
            (None, o) => o,
        };
        Ok(ReportScope { from, to, channel, owner_id, region })
    }

    /// Calendar months the period touches, partial ones included.
    pub fn months(&self) -> i64 {
        (month_index(self.to) - month_index(self.from) + 1) as i64
    }

    /// The period as instants: from the start of `from` up to (excluded) the start of the day
    /// after `to`.
    pub fn bounds(&self) -> (NaiveDateTime, NaiveDateTime) {
        let from = self.from.and_hms_opt(0, 0, 0).unwrap_or_default();
        let until = (self.to + Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default();
        (from, until)
    }
}

/// The client filters a report takes besides its period.
#[derive(Debug, Clone, Default)]
pub struct ClientFilters {
    pub channel: Option<String>,
    pub owner_id: Option<i64>,
    pub region: Option<String>,
}

/// What the value of a client is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Revenue,
    Margin,
}

/// One client's sums over the period, from its monthly sums.
#[derive(Debug, Clone, Default)]
pub struct ClientSums {
    pub client_id: i64,
    /// Σ of the measure over the period.
    pub value: i64,
    /// Σ of squared monthly sums (months without sales add nothing).
    pub sum_of_squares: i128,
    pub months_with_sales: i64,
    pub purchases: i64,
}

/// What reports show of a client next to its figures.
#[derive(Debug, Clone, Default)]
pub struct ClientLabel {
    pub name: String,
    pub owner_id: Option<i64>,
    pub channel: Option<String>,
}

/// First day of the month `index` (`year * 12 + month - 1`).
pub fn month_start(index: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1).unwrap_or_default()
}

/// `YYYY-MM` of a date, for reports.
pub fn month_label(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AbcXyzClient {
    pub client_id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    pub channel: Option<String>,
    pub rank: usize,
    /// The measure over the period, a decimal amount.
    pub value: String,
    pub share: f64,
    pub cumulative_share: f64,
    pub abc: Abc,
    pub xyz: Xyz,
    /// Coefficient of variation of the monthly sums (null when the value is not positive).
    pub cv: Option<f64>,
    pub purchases: i64,
    pub months_with_sales: i64,
    pub insufficient_history: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AbcXyzReport {
    pub scope: ReportScope,
    pub measure: Measure,
    pub thresholds: Thresholds,
    /// Calendar months of the period (the n of the coefficient of variation).
    pub months: i64,
    /// Clients with sales in the period.
    pub clients: usize,
    /// Sum of the positive values, a decimal amount.
    pub total: String,
    pub matrix: Vec<Cell>,
    /// Ranked clients (of `cell` when given).
    pub items: Vec<AbcXyzClient>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelClasses {
    /// Null for clients without a channel.
    pub channel: Option<String>,
    /// Clients per class (`A`…`E`).
    pub clients: BTreeMap<String, usize>,
    /// Margin per class, decimal amounts.
    pub profit: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AbcdeClient {
    pub client_id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    pub channel: Option<String>,
    pub class: Abcde,
    /// Margin over the period, a decimal amount.
    pub profit: String,
    /// Estimated potential, a decimal amount.
    pub potential: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AbcdeReport {
    pub scope: ReportScope,
    pub cutoffs: Cutoffs,
    pub channels: Vec<ChannelClasses>,
    /// Clients by channel, class, profit (descending) and id.
    pub items: Vec<AbcdeClient>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParetoBy {
    Channel,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParetoReport {
    pub scope: ReportScope,
    pub top_share: f64,
    pub overall: ParetoResult,
    /// Per channel, when `by=channel`.
    pub channels: Vec<ParetoResult>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelReport {
    pub scope: ReportScope,
    pub pipeline_id: i64,
    pub group_by: Option<GroupBy>,
    pub groups: Vec<FunnelGroup>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReactivationReport {
    pub as_of: NaiveDate,
    pub factor: f64,
    /// The base's median interval, used for clients with a single purchase day.
    pub median_interval_days: Option<f64>,
    /// All due clients.
    pub clients: usize,
    pub items: Vec<Candidate>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReactivationTasks {
    pub as_of: NaiveDate,
    pub factor: f64,
    /// Due clients considered.
    pub clients: usize,
    /// Tasks created now.
    pub created: usize,
    /// Clients that already had an open reactivation task.
    pub already_open: usize,
    /// Clients without an owner to give the task to.
    pub without_owner: usize,
    pub task_ids: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LostReport {
    pub scope: ReportScope,
    pub whole_history: bool,
    pub items: Vec<LostClient>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletenessReport {
    /// Whether the census is limited to clients created in the period.
    pub created_in_period: bool,
    pub scope: ReportScope,
    pub overall: Census,
    pub by_owner: Vec<Census>,
    /// The clients missing the most, worst first.
    pub worst: Vec<Incomplete>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_start_on_their_first_day() {
        assert_eq!(
            month_start(month_index(NaiveDate::from_ymd_opt(2026, 3, 17).unwrap())),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
    }

    #[test]
    fn scope_defaults_to_a_year_and_pins_managers() {
        let s = ReportScope::new(None, NaiveDate::from_ymd_opt(2026, 12, 31), None, None, None, Some(7)).unwrap();
        assert_eq!(s.from, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        assert_eq!(s.months(), 12);
        assert_eq!(s.owner_id, Some(7));
        assert!(ReportScope::new(None, None, None, Some(8), None, Some(7)).is_err());
    }
}
