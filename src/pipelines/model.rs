//! Pipelines and stages as stored and as the API reads and writes them: the rows, the pipeline
//! with its stages in order, the stage kinds, the create and change bodies, and the rules a
//! stage's own values keep.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{pipeline_stages, pipelines};
use crate::error::FieldErrors;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pipelines)]
pub struct PipelineRow {
    pub id: i64,
    pub name: String,
    pub is_default: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = pipeline_stages)]
pub struct StageRow {
    pub id: i64,
    pub pipeline_id: i64,
    pub name: String,
    pub kind: String,
    pub probability: i32,
    pub position: i32,
    pub archived: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// `open` stages are steps of the funnel; a deal in a `won` or `lost` stage is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    Open,
    Won,
    Lost,
}

crate::text_enum!(StageKind { Open = "open", Won = "won", Lost = "lost" } else Open);

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Stage {
    pub id: i64,
    pub pipeline_id: i64,
    pub name: String,
    pub kind: StageKind,
    /// Chance of winning a deal in this stage, 0–100.
    pub probability: i32,
    /// Order in the pipeline, from 1.
    pub position: i32,
    /// Archived stages keep their deals but take no new ones.
    pub archived: bool,
}

impl From<StageRow> for Stage {
    fn from(r: StageRow) -> Stage {
        Stage {
            id: r.id,
            pipeline_id: r.pipeline_id,
            name: r.name,
            kind: StageKind::parse(&r.kind),
            probability: r.probability,
            position: r.position,
            archived: r.archived,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Pipeline {
    pub id: i64,
    pub name: String,
    /// New deals go to the default pipeline unless another is named.
    pub is_default: bool,
    /// In order.
    pub stages: Vec<Stage>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStage {
    /// Not blank.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    pub kind: StageKind,
    #[schema(minimum = 0, maximum = 100)]
    pub probability: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPipeline {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    #[serde(default)]
    pub is_default: bool,
    /// In order; at least one stage of each kind.
    #[schema(min_items = 3, max_items = 50)]
    pub stages: Vec<NewStage>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelinePatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    /// Only `true` is meaningful: it makes this pipeline the default (`false` on the default
    /// pipeline is a conflict: make another one the default instead).
    pub is_default: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StagePatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 100)]
    pub probability: Option<i32>,
    /// Only stages no deal has used can change kind.
    pub kind: Option<StageKind>,
    pub archived: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageOrder {
    /// Every stage id of the pipeline, archived ones included, in the new order.
    pub stage_ids: Vec<i64>,
}

pub(super) fn default_probability(kind: StageKind) -> i32 {
    match kind {
        StageKind::Open => 50,
        StageKind::Won => 100,
        StageKind::Lost => 0,
    }
}

/// A pipeline's name: 1 to 200 characters once trimmed.
pub(super) fn name_fits(name: &str) -> bool {
    let n = name.trim().chars().count();
    (1..=200).contains(&n)
}

pub(super) fn check_stage(errors: &mut FieldErrors, field: &str, name: Option<&str>, probability: Option<i32>) {
    if let Some(name) = name {
        let n = name.trim().chars().count();
        errors.check((1..=100).contains(&n), format_args!("{field}name"), "must be 1 to 100 characters");
    }
    if let Some(p) = probability {
        errors.check((0..=100).contains(&p), format_args!("{field}probability"), "must be between 0 and 100");
    }
}

pub(super) fn assemble(row: PipelineRow, stages: Vec<StageRow>) -> Pipeline {
    Pipeline {
        id: row.id,
        name: row.name,
        is_default: row.is_default,
        stages: stages.into_iter().map(Stage::from).collect(),
        version: row.version,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
    }
}

#[derive(AsChangeset)]
#[diesel(table_name = pipeline_stages)]
pub(super) struct StageChanges {
    pub(super) name: Option<String>,
    pub(super) probability: Option<i32>,
    pub(super) kind: Option<String>,
    pub(super) archived: Option<bool>,
    pub(super) updated_at: NaiveDateTime,
}
