//! Pipeline handlers: pipelines and their stages read by the funnel, set up by those who
//! manage the settings.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::model::{NewPipeline, NewStage, Pipeline, PipelinePatch, Stage, StageOrder, StagePatch};
use super::{repo, service};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::{created, if_match, ok_tagged};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_pipelines)
        .service(create_pipeline)
        .service(get_pipeline)
        .service(update_pipeline)
        .service(list_stages)
        .service(add_stage)
        .service(reorder_stages)
        .service(update_stage)
        .service(delete_stage);
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "list_pipelines",
    responses((status = 200, description = "All pipelines with their stages in order", body = Vec<Pipeline>)),
    security(("oauth2" = ["deals:read"]))
)]
#[get("/pipelines")]
async fn list_pipelines(state: web::Data<AppState>, auth: Caller) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsRead)?;
    let list = db::run(&state.pool, |conn| Ok(repo::list(conn)?)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "create_pipeline",
    request_body = NewPipeline,
    responses((status = 201, description = "The pipeline", body = Pipeline, headers(("ETag" = String), ("Location" = String)))),
    security(("oauth2" = ["settings:manage"]))
)]
#[post("/pipelines")]
async fn create_pipeline(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewPipeline>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    let p = db::run_tx(&state.pool, move |conn| service::create(conn, input)).await?;
    Ok(created(&p, format!("/api/v1/pipelines/{}", p.id), p.id, p.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "get_pipeline",
    params(("id" = i64, Path, description = "Pipeline id")),
    responses((status = 200, description = "The pipeline", body = Pipeline, headers(("ETag" = String)))),
    security(("oauth2" = ["deals:read"]))
)]
#[get("/pipelines/{id}")]
async fn get_pipeline(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsRead)?;
    let id = id.into_inner();
    let p = db::run(&state.pool, move |conn| repo::get(conn, id)).await?;
    Ok(ok_tagged(&p, p.id, p.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "update_pipeline",
    params(
        ("id" = i64, Path, description = "Pipeline id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the pipeline changed since"),
    ),
    request_body = PipelinePatch,
    responses(
        (status = 200, description = "The pipeline", body = Pipeline, headers(("ETag" = String))),
        (status = 409, description = "`is_default: false` on the default pipeline", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["settings:manage"]))
)]
#[patch("/pipelines/{id}")]
async fn update_pipeline(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<PipelinePatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let p = db::run_tx(&state.pool, move |conn| service::update(conn, id, patch, expected)).await?;
    Ok(ok_tagged(&p, p.id, p.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "list_stages",
    params(("id" = i64, Path, description = "Pipeline id")),
    responses((status = 200, description = "The stages in order", body = Vec<Stage>)),
    security(("oauth2" = ["deals:read"]))
)]
#[get("/pipelines/{id}/stages")]
async fn list_stages(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsRead)?;
    let id = id.into_inner();
    let p = db::run(&state.pool, move |conn| repo::get(conn, id)).await?;
    Ok(HttpResponse::Ok().json(p.stages))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "add_stage",
    params(("id" = i64, Path, description = "Pipeline id")),
    request_body = NewStage,
    responses((status = 201, description = "The pipeline with the new stage (open stages go after the last open one)", body = Pipeline)),
    security(("oauth2" = ["settings:manage"]))
)]
#[post("/pipelines/{id}/stages")]
async fn add_stage(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiJson(input): ApiJson<NewStage>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    let id = id.into_inner();
    let p = db::run_tx(&state.pool, move |conn| service::add_stage(conn, id, input)).await?;
    Ok(HttpResponse::Created().json(p))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "reorder_stages",
    params(("id" = i64, Path, description = "Pipeline id")),
    request_body = StageOrder,
    responses((status = 200, description = "The pipeline in its new order", body = Pipeline)),
    security(("oauth2" = ["settings:manage"]))
)]
#[post("/pipelines/{id}/stages/reorder")]
async fn reorder_stages(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiJson(order): ApiJson<StageOrder>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    let id = id.into_inner();
    let p = db::run_tx(&state.pool, move |conn| service::reorder(conn, id, order)).await?;
    Ok(HttpResponse::Ok().json(p))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "update_stage",
    params(("id" = i64, Path, description = "Pipeline id"), ("stage_id" = i64, Path, description = "Stage id")),
    request_body = StagePatch,
    responses(
        (status = 200, description = "The pipeline", body = Pipeline),
        (status = 409, description = "The change would leave no active won, lost or open stage, or changes the kind of a used stage", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["settings:manage"]))
)]
#[patch("/pipelines/{id}/stages/{stage_id}")]
async fn update_stage(
    state: web::Data<AppState>,
    auth: Caller,
    path: web::Path<(i64, i64)>,
    ApiJson(patch): ApiJson<StagePatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    let (id, stage_id) = path.into_inner();
    let p = db::run_tx(&state.pool, move |conn| service::update_stage(conn, id, stage_id, patch)).await?;
    Ok(HttpResponse::Ok().json(p))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "delete_stage",
    params(("id" = i64, Path, description = "Pipeline id"), ("stage_id" = i64, Path, description = "Stage id")),
    responses(
        (status = 200, description = "The pipeline without the stage", body = Pipeline),
        (status = 409, description = "Deals have used the stage (archive it instead), or it is the last of its kind", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["settings:manage"]))
)]
#[delete("/pipelines/{id}/stages/{stage_id}")]
async fn delete_stage(
    state: web::Data<AppState>,
    auth: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    let (id, stage_id) = path.into_inner();
    let p = db::run_tx(&state.pool, move |conn| service::delete_stage(conn, id, stage_id)).await?;
    Ok(HttpResponse::Ok().json(p))
}
