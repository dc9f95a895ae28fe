//! Pipelines and their ordered stages. A stage is `open`, `won` or `lost`; a pipeline always
//! keeps at least one active stage of each kind, and a stage that deals have used can only be
//! archived, never deleted.

pub mod api;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{deal_stage_history, deals, pipeline_stages, pipelines};
use crate::db::{now, DbConn};
use crate::error::{ApiError, FieldErrors};

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
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub kind: StageKind,
    #[schema(minimum = 0, maximum = 100)]
    pub probability: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPipeline {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    pub is_default: bool,
    /// In order; at least one stage of each kind.
    pub stages: Vec<NewStage>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelinePatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Only `true` is meaningful: it makes this pipeline the default.
    pub is_default: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StagePatch {
    #[schema(min_length = 1, max_length = 100)]
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

fn default_probability(kind: StageKind) -> i32 {
    match kind {
        StageKind::Open => 50,
        StageKind::Won => 100,
        StageKind::Lost => 0,
    }
}

fn check_stage(errors: &mut FieldErrors, field: &str, name: Option<&str>, probability: Option<i32>) {
    if let Some(name) = name {
        let n = name.trim().chars().count();
        errors.check((1..=100).contains(&n), format_args!("{field}name"), "must be 1 to 100 characters");
    }
    if let Some(p) = probability {
        errors.check((0..=100).contains(&p), format_args!("{field}probability"), "must be between 0 and 100");
    }
}

pub fn stages_of(conn: &mut DbConn, pipeline_id: i64) -> QueryResult<Vec<StageRow>> {
    pipeline_stages::table
        .filter(pipeline_stages::pipeline_id.eq(pipeline_id))
        .order((pipeline_stages::position.asc(), pipeline_stages::id.asc()))
        .select(StageRow::as_select())
        .load(conn)
}

fn assemble(row: PipelineRow, stages: Vec<StageRow>) -> Pipeline {
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

pub fn get(conn: &mut DbConn, id: i64) -> Result<Pipeline, ApiError> {
    let row: PipelineRow = pipelines::table.find(id).select(PipelineRow::as_select()).first(conn)?;
    let stages = stages_of(conn, id)?;
    Ok(assemble(row, stages))
}

/// All pipelines with their stages, in two queries.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<Pipeline>> {
    let rows: Vec<PipelineRow> = pipelines::table.order(pipelines::id).select(PipelineRow::as_select()).load(conn)?;
    let stages: Vec<StageRow> = pipeline_stages::table
        .order((pipeline_stages::pipeline_id, pipeline_stages::position, pipeline_stages::id))
        .select(StageRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|p| {
            let own = stages.iter().filter(|s| s.pipeline_id == p.id).cloned().collect();
            assemble(p, own)
        })
        .collect())
}

pub fn default_id(conn: &mut DbConn) -> QueryResult<Option<i64>> {
    pipelines::table.filter(pipelines::is_default.eq(true)).select(pipelines::id).first(conn).optional()
}

pub fn stage(conn: &mut DbConn, id: i64) -> QueryResult<Option<StageRow>> {
    pipeline_stages::table.find(id).select(StageRow::as_select()).first(conn).optional()
}

/// Whether any deal is or was in the stage.
fn in_use(conn: &mut DbConn, stage_id: i64) -> QueryResult<bool> {
    let current: i64 = deals::table.filter(deals::stage_id.eq(stage_id)).count().get_result(conn)?;
    if current > 0 {
        return Ok(true);
    }
    let past: i64 = deal_stage_history::table
        .filter(deal_stage_history::to_stage_id.eq(stage_id).or(deal_stage_history::from_stage_id.eq(stage_id)))
        .count()
        .get_result(conn)?;
    Ok(past > 0)
}

fn insert_stage(conn: &mut DbConn, pipeline_id: i64, s: &NewStage, position: i32) -> QueryResult<StageRow> {
    let at = now();
    diesel::insert_into(pipeline_stages::table)
        .values((
            pipeline_stages::pipeline_id.eq(pipeline_id),
            pipeline_stages::name.eq(s.name.trim()),
            pipeline_stages::kind.eq(s.kind.as_str()),
            pipeline_stages::probability.eq(s.probability.unwrap_or(default_probability(s.kind))),
            pipeline_stages::position.eq(position),
            pipeline_stages::archived.eq(false),
            pipeline_stages::created_at.eq(at),
            pipeline_stages::updated_at.eq(at),
        ))
        .returning(pipeline_stages::all_columns)
        .get_result(conn)
}

fn clear_default(conn: &mut DbConn, except: i64) -> QueryResult<usize> {
    diesel::update(pipelines::table.filter(pipelines::id.ne(except)).filter(pipelines::is_default.eq(true)))
        .set(pipelines::is_default.eq(false))
        .execute(conn)
}

pub fn create(conn: &mut DbConn, input: NewPipeline) -> Result<Pipeline, ApiError> {
    let mut errors = FieldErrors::new();
    let n = input.name.trim().chars().count();
    errors.check((1..=200).contains(&n), "name", "must be 1 to 200 characters");
    for (i, s) in input.stages.iter().enumerate() {
        check_stage(&mut errors, &format!("stages[{i}]."), Some(&s.name), s.probability);
    }
    for kind in [StageKind::Open, StageKind::Won, StageKind::Lost] {
        errors.check(
            input.stages.iter().any(|s| s.kind == kind),
            "stages",
            format_args!("needs at least one {} stage", kind.as_str()),
        );
    }
    errors.check(input.stages.len() <= 50, "stages", "at most 50 stages");
    errors.into_result()?;
    let at = now();
    let row: PipelineRow = diesel::insert_into(pipelines::table)
        .values((
            pipelines::name.eq(input.name.trim()),
            pipelines::is_default.eq(input.is_default),
            pipelines::version.eq(1i64),
            pipelines::created_at.eq(at),
            pipelines::updated_at.eq(at),
        ))
        .returning(pipelines::all_columns)
        .get_result(conn)?;
    if input.is_default {
        clear_default(conn, row.id)?;
    }
    for (i, s) in input.stages.iter().enumerate() {
        insert_stage(conn, row.id, s, i as i32 + 1)?;
    }
    get(conn, row.id)
}

fn touch(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::update(pipelines::table.find(id))
        .set((pipelines::version.eq(pipelines::version + 1), pipelines::updated_at.eq(now())))
        .execute(conn)
}

pub fn update(conn: &mut DbConn, id: i64, patch: PipelinePatch, expected: Option<i64>) -> Result<Pipeline, ApiError> {
    let current = get(conn, id)?;
    crate::versioning::expect(expected, current.version)?;
    if let Some(name) = &patch.name {
        let n = name.trim().chars().count();
        if !(1..=200).contains(&n) {
            return Err(ApiError::field("name", "must be 1 to 200 characters"));
        }
        diesel::update(pipelines::table.find(id)).set(pipelines::name.eq(name.trim())).execute(conn)?;
    }
    match patch.is_default {
        Some(true) => {
            diesel::update(pipelines::table.find(id)).set(pipelines::is_default.eq(true)).execute(conn)?;
            clear_default(conn, id)?;
        }
        Some(false) if current.is_default => {
            return Err(ApiError::field("is_default", "make another pipeline the default instead"));
        }
        _ => {}
    }
    touch(conn, id)?;
    get(conn, id)
}

pub fn add_stage(conn: &mut DbConn, pipeline_id: i64, input: NewStage) -> Result<Pipeline, ApiError> {
    let stages = get(conn, pipeline_id)?.stages;
    let mut errors = FieldErrors::new();
    check_stage(&mut errors, "", Some(&input.name), input.probability);
    errors.check(stages.len() < 50, "name", "a pipeline has at most 50 stages");
    errors.into_result()?;
    // A new open stage goes after the last open one, a closing stage at the end.
    let position = match input.kind {
        StageKind::Open => {
            stages.iter().filter(|s| s.kind == StageKind::Open).map(|s| s.position).max().unwrap_or(0) + 1
        }
        _ => stages.iter().map(|s| s.position).max().unwrap_or(0) + 1,
    };
    diesel::update(
        pipeline_stages::table
            .filter(pipeline_stages::pipeline_id.eq(pipeline_id))
            .filter(pipeline_stages::position.ge(position)),
    )
    .set(pipeline_stages::position.eq(pipeline_stages::position + 1))
    .execute(conn)?;
    insert_stage(conn, pipeline_id, &input, position)?;
    touch(conn, pipeline_id)?;
    get(conn, pipeline_id)
}

/// The stage, checked to belong to the pipeline.
fn stage_of(conn: &mut DbConn, pipeline_id: i64, stage_id: i64) -> Result<StageRow, ApiError> {
    stage(conn, stage_id)?.filter(|s| s.pipeline_id == pipeline_id).ok_or(ApiError::NotFound)
}

/// Refuses a change that would leave the pipeline without an active stage of `kind`.
fn keeps_each_kind(stages: &[Stage], leaving: i64, kind: StageKind) -> Result<(), ApiError> {
    let others = stages.iter().filter(|s| s.id != leaving && !s.archived && s.kind == kind).count();
    if others == 0 {
        return Err(ApiError::Conflict(format!("a pipeline must keep at least one active {} stage", kind.as_str())));
    }
    Ok(())
}

#[derive(AsChangeset)]
#[diesel(table_name = pipeline_stages)]
struct StageChanges {
    name: Option<String>,
    probability: Option<i32>,
    kind: Option<String>,
    archived: Option<bool>,
    updated_at: NaiveDateTime,
}

pub fn update_stage(
    conn: &mut DbConn,
    pipeline_id: i64,
    stage_id: i64,
    patch: StagePatch,
) -> Result<Pipeline, ApiError> {
    let pipeline = get(conn, pipeline_id)?;
    let current = Stage::from(stage_of(conn, pipeline_id, stage_id)?);
    let mut errors = FieldErrors::new();
    check_stage(&mut errors, "", patch.name.as_deref(), patch.probability);
    errors.into_result()?;
    let kind_change = patch.kind.filter(|k| *k != current.kind);
    if kind_change.is_some() {
        if in_use(conn, stage_id)? {
            return Err(ApiError::Conflict("deals have used this stage: its kind cannot change".into()));
        }
        if !current.archived {
            keeps_each_kind(&pipeline.stages, stage_id, current.kind)?;
        }
    }
    if patch.archived == Some(true) && !current.archived {
        keeps_each_kind(&pipeline.stages, stage_id, patch.kind.unwrap_or(current.kind))?;
    }
    diesel::update(pipeline_stages::table.find(stage_id))
        .set(StageChanges {
            name: patch.name.map(|n| n.trim().to_string()),
            probability: patch.probability,
            kind: kind_change.map(|k| k.as_str().to_string()),
            archived: patch.archived,
            updated_at: now(),
        })
        .execute(conn)?;
    touch(conn, pipeline_id)?;
    get(conn, pipeline_id)
}

pub fn reorder(conn: &mut DbConn, pipeline_id: i64, order: StageOrder) -> Result<Pipeline, ApiError> {
    let pipeline = get(conn, pipeline_id)?;
    let mut given = order.stage_ids.clone();
    given.sort_unstable();
    let mut existing: Vec<i64> = pipeline.stages.iter().map(|s| s.id).collect();
    existing.sort_unstable();
    if given != existing {
        return Err(ApiError::field("stage_ids", "must list every stage of the pipeline exactly once"));
    }
    for (i, id) in order.stage_ids.iter().enumerate() {
        diesel::update(pipeline_stages::table.find(*id))
            .set((pipeline_stages::position.eq(i as i32 + 1), pipeline_stages::updated_at.eq(now())))
            .execute(conn)?;
    }
    touch(conn, pipeline_id)?;
    get(conn, pipeline_id)
}

pub fn delete_stage(conn: &mut DbConn, pipeline_id: i64, stage_id: i64) -> Result<Pipeline, ApiError> {
    let pipeline = get(conn, pipeline_id)?;
    let current = Stage::from(stage_of(conn, pipeline_id, stage_id)?);
    if in_use(conn, stage_id)? {
        return Err(ApiError::Conflict("deals have used this stage: archive it instead".into()));
    }
    if !current.archived {
        keeps_each_kind(&pipeline.stages, stage_id, current.kind)?;
    }
    diesel::delete(pipeline_stages::table.find(stage_id)).execute(conn)?;
    for (i, s) in pipeline.stages.iter().filter(|s| s.id != stage_id).enumerate() {
        diesel::update(pipeline_stages::table.find(s.id))
            .set(pipeline_stages::position.eq(i as i32 + 1))
            .execute(conn)?;
    }
    touch(conn, pipeline_id)?;
    get(conn, pipeline_id)
}
