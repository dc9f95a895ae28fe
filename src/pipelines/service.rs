//! The rules of pipelines and their stages: at least one active stage of each kind, a used
//! stage keeps its kind and is archived rather than deleted, one default pipeline, and where a
//! new stage goes.

use super::model::{
    check_stage, name_fits, NewPipeline, NewStage, Pipeline, PipelinePatch, Stage, StageChanges, StageKind, StageOrder,
    StagePatch,
};
use super::repo;
use crate::db::{now, DbConn};
use crate::error::{ApiError, FieldErrors};

pub fn create(conn: &mut DbConn, input: NewPipeline) -> Result<Pipeline, ApiError> {
    let mut errors = FieldErrors::new();
    errors.check(name_fits(&input.name), "name", "must be 1 to 200 characters");
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
    let row = repo::insert_pipeline(conn, input.name.trim(), input.is_default)?;
    if input.is_default {
        repo::clear_default(conn, row.id)?;
    }
    for (i, s) in input.stages.iter().enumerate() {
        repo::insert_stage(conn, row.id, s, i as i32 + 1)?;
    }
    repo::get(conn, row.id)
}

pub fn update(conn: &mut DbConn, id: i64, patch: PipelinePatch, expected: Option<i64>) -> Result<Pipeline, ApiError> {
    let current = repo::get(conn, id)?;
    crate::versioning::expect(expected, current.version)?;
    if let Some(name) = &patch.name {
        if !name_fits(name) {
            return Err(ApiError::field("name", "must be 1 to 200 characters"));
        }
        repo::set_name(conn, id, name.trim())?;
    }
    match patch.is_default {
        Some(true) => {
            repo::set_default(conn, id)?;
            repo::clear_default(conn, id)?;
        }
        Some(false) if current.is_default => {
            // A state the request cannot leave by itself: some pipeline is always the default.
            return Err(ApiError::Conflict(
                "this is the default pipeline: make another pipeline the default instead".into(),
            ));
        }
        _ => {}
    }
    repo::touch(conn, id)?;
    repo::get(conn, id)
}

pub fn add_stage(conn: &mut DbConn, pipeline_id: i64, input: NewStage) -> Result<Pipeline, ApiError> {
    let stages = repo::get(conn, pipeline_id)?.stages;
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
    repo::make_room(conn, pipeline_id, position)?;
    repo::insert_stage(conn, pipeline_id, &input, position)?;
    repo::touch(conn, pipeline_id)?;
    repo::get(conn, pipeline_id)
}

/// Refuses a change that would leave the pipeline without an active stage of `kind`.
fn keeps_each_kind(stages: &[Stage], leaving: i64, kind: StageKind) -> Result<(), ApiError> {
    let others = stages.iter().filter(|s| s.id != leaving && !s.archived && s.kind == kind).count();
    if others == 0 {
        return Err(ApiError::Conflict(format!("a pipeline must keep at least one active {} stage", kind.as_str())));
    }
    Ok(())
}

pub fn update_stage(
    conn: &mut DbConn,
    pipeline_id: i64,
    stage_id: i64,
    patch: StagePatch,
) -> Result<Pipeline, ApiError> {
    let pipeline = repo::get(conn, pipeline_id)?;
    let current = Stage::from(repo::stage_of(conn, pipeline_id, stage_id)?);
    let mut errors = FieldErrors::new();
    check_stage(&mut errors, "", patch.name.as_deref(), patch.probability);
    errors.into_result()?;
    let kind_change = patch.kind.filter(|k| *k != current.kind);
    if kind_change.is_some() {
        if repo::in_use(conn, stage_id)? {
            return Err(ApiError::Conflict("deals have used this stage: its kind cannot change".into()));
        }
        if !current.archived {
            keeps_each_kind(&pipeline.stages, stage_id, current.kind)?;
        }
    }
    if patch.archived == Some(true) && !current.archived {
        keeps_each_kind(&pipeline.stages, stage_id, patch.kind.unwrap_or(current.kind))?;
    }
    repo::update_stage(
        conn,
        stage_id,
        StageChanges {
            name: patch.name.map(|n| n.trim().to_string()),
            probability: patch.probability,
            kind: kind_change.map(|k| k.as_str().to_string()),
            archived: patch.archived,
            updated_at: now(),
        },
    )?;
    repo::touch(conn, pipeline_id)?;
    repo::get(conn, pipeline_id)
}

pub fn reorder(conn: &mut DbConn, pipeline_id: i64, order: StageOrder) -> Result<Pipeline, ApiError> {
    let pipeline = repo::get(conn, pipeline_id)?;
    let mut given = order.stage_ids.clone();
    given.sort_unstable();
    let mut existing: Vec<i64> = pipeline.stages.iter().map(|s| s.id).collect();
    existing.sort_unstable();
    if given != existing {
        return Err(ApiError::field("stage_ids", "must list every stage of the pipeline exactly once"));
    }
    for (i, id) in order.stage_ids.iter().enumerate() {
        repo::move_stage(conn, *id, i as i32 + 1)?;
    }
    repo::touch(conn, pipeline_id)?;
    repo::get(conn, pipeline_id)
}

pub fn delete_stage(conn: &mut DbConn, pipeline_id: i64, stage_id: i64) -> Result<Pipeline, ApiError> {
    let pipeline = repo::get(conn, pipeline_id)?;
    let current = Stage::from(repo::stage_of(conn, pipeline_id, stage_id)?);
    if repo::in_use(conn, stage_id)? {
        return Err(ApiError::Conflict("deals have used this stage: archive it instead".into()));
    }
    if !current.archived {
        keeps_each_kind(&pipeline.stages, stage_id, current.kind)?;
    }
    repo::delete_stage(conn, stage_id)?;
    for (i, s) in pipeline.stages.iter().filter(|s| s.id != stage_id).enumerate() {
        repo::set_position(conn, s.id, i as i32 + 1)?;
    }
    repo::touch(conn, pipeline_id)?;
    repo::get(conn, pipeline_id)
}
