//! Pipeline storage: pipelines with their ordered stages, the default pipeline, and the writes
//! of pipelines, stages and stage positions.

use diesel::prelude::*;

use super::model::{assemble, default_probability, NewStage, Pipeline, PipelineRow, StageChanges, StageRow};
use crate::db::schema::{deal_stage_history, deals, pipeline_stages, pipelines};
use crate::db::{now, DbConn};
use crate::error::ApiError;

pub fn stages_of(conn: &mut DbConn, pipeline_id: i64) -> QueryResult<Vec<StageRow>> {
    pipeline_stages::table
        .filter(pipeline_stages::pipeline_id.eq(pipeline_id))
        .order((pipeline_stages::position.asc(), pipeline_stages::id.asc()))
        .select(StageRow::as_select())
        .load(conn)
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
pub(super) fn in_use(conn: &mut DbConn, stage_id: i64) -> QueryResult<bool> {
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

pub(super) fn insert_stage(conn: &mut DbConn, pipeline_id: i64, s: &NewStage, position: i32) -> QueryResult<StageRow> {
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

pub(super) fn clear_default(conn: &mut DbConn, except: i64) -> QueryResult<usize> {
    diesel::update(pipelines::table.filter(pipelines::id.ne(except)).filter(pipelines::is_default.eq(true)))
        .set(pipelines::is_default.eq(false))
        .execute(conn)
}

pub(super) fn touch(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::update(pipelines::table.find(id))
        .set((pipelines::version.eq(pipelines::version + 1), pipelines::updated_at.eq(now())))
        .execute(conn)
}

/// The stage, checked to belong to the pipeline.
pub(super) fn stage_of(conn: &mut DbConn, pipeline_id: i64, stage_id: i64) -> Result<StageRow, ApiError> {
    stage(conn, stage_id)?.filter(|s| s.pipeline_id == pipeline_id).ok_or(ApiError::NotFound)
}

pub(super) fn insert_pipeline(conn: &mut DbConn, name: &str, is_default: bool) -> QueryResult<PipelineRow> {
    let at = now();
    diesel::insert_into(pipelines::table)
        .values((
            pipelines::name.eq(name),
            pipelines::is_default.eq(is_default),
            pipelines::version.eq(1i64),
            pipelines::created_at.eq(at),
            pipelines::updated_at.eq(at),
        ))
        .returning(pipelines::all_columns)
        .get_result(conn)
}

pub(super) fn set_name(conn: &mut DbConn, id: i64, name: &str) -> QueryResult<usize> {
    diesel::update(pipelines::table.find(id)).set(pipelines::name.eq(name)).execute(conn)
}

pub(super) fn set_default(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::update(pipelines::table.find(id)).set(pipelines::is_default.eq(true)).execute(conn)
}

/// Moves the stages of the pipeline at `position` and after one place down.
pub(super) fn make_room(conn: &mut DbConn, pipeline_id: i64, position: i32) -> QueryResult<usize> {
    diesel::update(
        pipeline_stages::table
            .filter(pipeline_stages::pipeline_id.eq(pipeline_id))
            .filter(pipeline_stages::position.ge(position)),
    )
    .set(pipeline_stages::position.eq(pipeline_stages::position + 1))
    .execute(conn)
}

pub(super) fn update_stage(conn: &mut DbConn, stage_id: i64, changes: StageChanges) -> QueryResult<usize> {
    diesel::update(pipeline_stages::table.find(stage_id)).set(changes).execute(conn)
}

/// Puts a stage at `position`, stamping the change.
pub(super) fn move_stage(conn: &mut DbConn, stage_id: i64, position: i32) -> QueryResult<usize> {
    diesel::update(pipeline_stages::table.find(stage_id))
        .set((pipeline_stages::position.eq(position), pipeline_stages::updated_at.eq(now())))
        .execute(conn)
}

/// Puts a stage at `position` alone, as closing the gap of a deleted stage does.
pub(super) fn set_position(conn: &mut DbConn, stage_id: i64, position: i32) -> QueryResult<usize> {
    diesel::update(pipeline_stages::table.find(stage_id)).set(pipeline_stages::position.eq(position)).execute(conn)
}

pub(super) fn delete_stage(conn: &mut DbConn, stage_id: i64) -> QueryResult<usize> {
    diesel::delete(pipeline_stages::table.find(stage_id)).execute(conn)
}
