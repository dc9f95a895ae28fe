//! Segments' types: the stored row, the filter a client must match (and what evaluating it
//! needs), the segment as the API shows it, its inputs and the member count.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::analytics::abc_xyz::{Abc, Xyz};
use crate::analytics::abcde::Abcde;
use crate::analytics::ReportScope;
use crate::clients::model::ClientStatus;
use crate::db::schema::segments;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = segments)]
pub struct SegmentRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub filter: String,
    pub owner_id: Option<i64>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What a client must match to be in the segment. Lists match any of their values; all the
/// criteria given must hold. Revenue and classes are computed over the last `period_months`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub status: Option<Vec<ClientStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub channel: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub region: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub industry: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub owner_id: Option<Vec<i64>>,
    /// Clients with any of these tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub abc: Option<Vec<Abc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub xyz: Option<Vec<Xyz>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub abcde: Option<Vec<Abcde>>,
    /// Last purchase strictly before this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_purchase_before: Option<NaiveDate>,
    /// Last purchase strictly after this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_purchase_after: Option<NaiveDate>,
    /// Revenue over the period at least this (a decimal amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub revenue_min: Option<String>,
    /// Revenue over the period at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub revenue_max: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_email: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_phone: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailing_consent: Option<bool>,
    /// Of the clients matching the rest, only the N with the most revenue over the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100000)]
    pub top_by_revenue: Option<i64>,
    /// Tests of filterable custom fields by key: `{"tier": {"any_of": ["gold"]}, "since":
    /// {"gte": "2024-01-01"}}` (values as text: option codes or labels, numbers, dates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::HashMap<String, crate::custom_fields::FieldTest>>)]
    pub custom_fields: Option<crate::custom_fields::FieldTests>,
    /// Months back from today for revenue and classes (default 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 120)]
    pub period_months: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Segment {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub filter: SegmentFilter,
    /// Who created it.
    pub owner_id: Option<i64>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<SegmentRow> for Segment {
    fn from(r: SegmentRow) -> Segment {
        Segment {
            id: r.id,
            name: r.name,
            description: r.description,
            filter: serde_json::from_str(&r.filter).unwrap_or_default(),
            owner_id: r.owner_id,
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSegment {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    pub description: Option<String>,
    pub filter: SegmentFilter,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentPatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces the whole filter.
    pub filter: Option<SegmentFilter>,
}

impl SegmentFilter {
    pub(crate) fn needs_sales(&self) -> bool {
        self.revenue_min.is_some()
            || self.revenue_max.is_some()
            || self.top_by_revenue.is_some()
            || self.needs_classes()
    }

    pub(crate) fn needs_classes(&self) -> bool {
        self.abc.is_some() || self.xyz.is_some() || self.abcde.is_some()
    }

    /// The months of `period_months` up to `to` (the reports' period, up to today for a segment,
    /// up to an automation's `as_of` for its conditions).
    pub(crate) fn period(&self, to: NaiveDate) -> ReportScope {
        let months = self.period_months.unwrap_or(12);
        let from = to - Duration::days((months * 365 / 12).max(1) - 1);
        ReportScope { from, to, channel: None, owner_id: None, region: None }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentCount {
    pub segment_id: i64,
    /// Clients in the segment that the caller may see.
    pub clients: usize,
}
