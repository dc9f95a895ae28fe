//! Pipelines and their ordered stages. A stage is `open`, `won` or `lost`; a pipeline always
//! keeps at least one active stage of each kind, and a stage that deals have used can only be
//! archived, never deleted.

pub mod api;
pub mod model;
pub mod repo;
pub mod service;

pub use model::{
    NewPipeline, NewStage, Pipeline, PipelinePatch, PipelineRow, Stage, StageKind, StageOrder, StagePatch, StageRow,
};
pub use repo::{default_id, get, list, stage, stages_of};
pub use service::{add_stage, create, delete_stage, reorder, update, update_stage};
