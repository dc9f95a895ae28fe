//! Deals as stored and as the API shows them, their inputs and the stage history.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{deal_stage_history, deals};
use crate::money;
use crate::patch::double_option;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deals)]
pub struct DealRow {
    pub id: i64,
    pub client_id: i64,
    pub contact_id: Option<i64>,
    pub pipeline_id: i64,
    pub stage_id: i64,
    pub status: String,
    pub title: String,
    pub amount: i64,
    pub currency: String,
    pub owner_id: Option<i64>,
    pub expected_close_date: Option<NaiveDate>,
    pub source: Option<String>,
    pub lost_reason: Option<String>,
    pub custom_fields: String,
    pub closed_at: Option<NaiveDateTime>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = deal_stage_history)]
pub struct StageChangeRow {
    pub id: i64,
    pub deal_id: i64,
    pub pipeline_id: i64,
    pub from_stage_id: Option<i64>,
    pub to_stage_id: i64,
    pub owner_id: Option<i64>,
    pub channel: Option<String>,
    pub changed_by: Option<String>,
    pub changed_at: NaiveDateTime,
}

/// `open` while the deal is in an open stage; `won` or `lost` once it reached such a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DealStatus {
    Open,
    Won,
    Lost,
}

crate::text_enum!(DealStatus { Open = "open", Won = "won", Lost = "lost" } else Open);

impl DealStatus {
    pub fn of_stage(kind: crate::pipelines::StageKind) -> DealStatus {
        match kind {
            crate::pipelines::StageKind::Open => DealStatus::Open,
            crate::pipelines::StageKind::Won => DealStatus::Won,
            crate::pipelines::StageKind::Lost => DealStatus::Lost,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deal {
    pub id: i64,
    pub client_id: i64,
    pub contact_id: Option<i64>,
    pub pipeline_id: i64,
    pub stage_id: i64,
    pub status: DealStatus,
    pub title: String,
    /// A decimal amount.
    #[schema(example = "250000.00")]
    pub amount: String,
    /// ISO 4217 code.
    #[schema(example = "RUB")]
    pub currency: String,
    pub owner_id: Option<i64>,
    pub expected_close_date: Option<NaiveDate>,
    pub source: Option<String>,
    /// Why the deal was lost; set while it is in a lost stage.
    pub lost_reason: Option<String>,
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// When the deal reached a won or lost stage.
    pub closed_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DealRow> for Deal {
    fn from(r: DealRow) -> Deal {
        Deal {
            id: r.id,
            client_id: r.client_id,
            contact_id: r.contact_id,
            pipeline_id: r.pipeline_id,
            stage_id: r.stage_id,
            status: DealStatus::parse(&r.status),
            title: r.title,
            amount: money::format_minor(r.amount),
            currency: r.currency,
            owner_id: r.owner_id,
            expected_close_date: r.expected_close_date,
            source: r.source,
            lost_reason: r.lost_reason,
            custom_fields: serde_json::from_str(&r.custom_fields).unwrap_or_default(),
            closed_at: r.closed_at.map(|t| t.and_utc()),
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// A recorded move of a deal into a stage.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageChange {
    pub id: i64,
    pub deal_id: i64,
    /// Null for the stage the deal was created in.
    pub from_stage_id: Option<i64>,
    pub to_stage_id: i64,
    /// The deal's owner at the time.
    pub owner_id: Option<i64>,
    /// The client's channel at the time.
    pub channel: Option<String>,
    /// Who moved it (`user:<id>` or `client:<client_id>`).
    pub changed_by: Option<String>,
    pub changed_at: DateTime<Utc>,
}

impl From<StageChangeRow> for StageChange {
    fn from(r: StageChangeRow) -> StageChange {
        StageChange {
            id: r.id,
            deal_id: r.deal_id,
            from_stage_id: r.from_stage_id,
            to_stage_id: r.to_stage_id,
            owner_id: r.owner_id,
            channel: r.channel,
            changed_by: r.changed_by,
            changed_at: r.changed_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeal {
    pub client_id: i64,
    /// A contact person of the same client.
    pub contact_id: Option<i64>,
    /// Defaults to the default pipeline.
    pub pipeline_id: Option<i64>,
    /// Defaults to the pipeline's first open stage.
    pub stage_id: Option<i64>,
    /// Not blank.
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    pub title: String,
    /// A decimal amount, not negative; default `0`.
    #[schema(example = "250000.00", pattern = r"^[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub amount: Option<String>,
    /// ISO 4217 code, default `RUB`.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// Defaults to the calling user; managers can only own deals themselves.
    pub owner_id: Option<i64>,
    pub expected_close_date: Option<NaiveDate>,
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub source: Option<String>,
    /// Required when the deal starts in a lost stage.
    pub lost_reason: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Changes to a deal; its stage changes only through `POST /deals/{id}/stage`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealPatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub contact_id: Option<Option<i64>>,
    #[schema(pattern = r"^[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub amount: Option<String>,
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub expected_close_date: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub source: Option<Option<String>>,
    /// Only for a lost deal; not blank.
    #[schema(pattern = r"\S")]
    pub lost_reason: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Moves a deal. Moving a closed deal to an open stage reopens it; a closed deal cannot go
/// straight to another closing stage.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageMove {
    /// A stage of the deal's pipeline.
    pub stage_id: i64,
    /// Required when moving to a lost stage.
    pub lost_reason: Option<String>,
}
