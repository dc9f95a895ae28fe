//! The query parameters of the analytics endpoints, each with the scope (or inputs) it asks
//! for; the rules behind the defaults and checks are the service's.

use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use super::abcde::Abcde;
use super::funnel::GroupBy;
use super::lost::LostSort;
use super::model::{ClientFilters, Measure, ParetoBy, ReportScope};
use super::service;
use crate::auth::Caller;
use crate::error::ApiError;

/// The client filters of a query struct.
macro_rules! filters {
    ($q:expr) => {
        ClientFilters { channel: $q.channel.clone(), owner_id: $q.owner_id, region: $q.region.clone() }
    };
}

/// Declares a query struct with the parameters every report shares, plus its own.
macro_rules! report_query {
    ($name:ident { $($(#[$m:meta])* $field:ident : $ty:ty,)* }) => {
        #[derive(Debug, Deserialize, IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            /// First day of the period (default: 364 days before `to`).
            pub from: Option<NaiveDate>,
            /// Last day of the period, included (default: today).
            pub to: Option<NaiveDate>,
            /// Only clients of this channel.
            pub channel: Option<String>,
            /// Only clients of this owner (managers always get their own).
            pub owner_id: Option<i64>,
            /// Only clients of this region.
            pub region: Option<String>,
            $($(#[$m])* pub $field: $ty,)*
        }

        impl $name {
            pub(super) fn scope(&self, auth: &Caller) -> Result<ReportScope, ApiError> {
                ReportScope::new(self.from, self.to, self.channel.clone(), self.owner_id, self.region.clone(), auth.own_clients_only())
            }
        }
    };
}

report_query!(AbcXyzQuery {
    /// `revenue` (default) or `margin`.
    #[param(inline)]
    measure: Option<Measure>,
    /// Cumulative share up to which clients are A, in percent (default 80).
    #[param(minimum = 0, maximum = 100)]
    a: Option<f64>,
    /// Cumulative share up to which clients are B (default 95).
    #[param(minimum = 0, maximum = 100)]
    b: Option<f64>,
    /// Coefficient of variation up to which clients are X, in percent (default 10).
    #[param(minimum = 0, maximum = 100)]
    x: Option<f64>,
    /// Coefficient of variation up to which clients are Y (default 25).
    #[param(minimum = 0, maximum = 100)]
    y: Option<f64>,
    /// Fewer purchases in the period flag a client `insufficient_history` (default 3).
    #[param(minimum = 0)]
    min_purchases: Option<i64>,
    /// Only clients of this cell, e.g. `AX`.
    #[param(pattern = "^[ABC][XYZ]$")]
    cell: Option<String>,
    /// Page size of `items`, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
});

report_query!(AbcdeQuery {
    /// Top share of a channel's ranking counted as maximal, in percent (default 20).
    #[param(minimum = 0, maximum = 100)]
    max_share: Option<f64>,
    /// Top share counted as high (default 50).
    #[param(minimum = 0, maximum = 100)]
    high_share: Option<f64>,
    /// Only clients of this class.
    #[param(inline)]
    class: Option<Abcde>,
    /// Page size of `items`, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
});

report_query!(ParetoQuery {
    /// The top share of clients, in percent (default 20).
    #[param(minimum = 0, maximum = 100)]
    top_share: Option<f64>,
    /// Points of the Lorenz curve after 0 (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    points: Option<usize>,
    /// `channel` for one result per channel as well.
    #[param(inline)]
    by: Option<ParetoBy>,
});

report_query!(FunnelQuery {
    /// The pipeline (default: the default pipeline).
    pipeline_id: Option<i64>,
    /// `owner` or `channel` (at the time of each move); default: one group.
    #[param(inline)]
    group_by: Option<GroupBy>,
});

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReactivationQuery {
    /// The day to judge from (default today); purchases after it are ignored.
    pub as_of: Option<NaiveDate>,
    /// How many of its own intervals a client may stay silent (default 1.5).
    #[param(exclusive_minimum = 0, maximum = 100)]
    pub factor: Option<f64>,
    pub channel: Option<String>,
    pub owner_id: Option<i64>,
    pub region: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ReactivationQuery {
    pub(super) fn inputs(&self, auth: &Caller) -> Result<service::Reactivation, ApiError> {
        service::reactivation_inputs(self.as_of, self.factor, filters!(self), auth)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LostQuery {
    /// First day counted (default: the whole history).
    pub from: Option<NaiveDate>,
    /// Last day counted (default: today).
    pub to: Option<NaiveDate>,
    pub channel: Option<String>,
    pub owner_id: Option<i64>,
    pub region: Option<String>,
    /// `margin` (default), `revenue` or `potential`.
    #[param(inline)]
    pub sort: Option<LostSort>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl LostQuery {
    pub(super) fn scope(&self, auth: &Caller) -> Result<(ReportScope, bool), ApiError> {
        service::lost_scope(self.from, self.to, filters!(self), auth)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompletenessQuery {
    /// Only clients created on or after this day.
    pub from: Option<NaiveDate>,
    /// Only clients created on or before this day.
    pub to: Option<NaiveDate>,
    pub channel: Option<String>,
    pub owner_id: Option<i64>,
    pub region: Option<String>,
    /// Page size of `worst`, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page of `worst`.
    pub cursor: Option<String>,
}

impl CompletenessQuery {
    pub(super) fn scope(&self, auth: &Caller) -> Result<(ReportScope, bool), ApiError> {
        service::completeness_scope(self.from, self.to, filters!(self), auth)
    }
}

report_query!(SummaryQuery {});
