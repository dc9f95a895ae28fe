//! The automation endpoints: the automations, running one now (or a dry run, as of any
//! instant) and the history of its runs.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Datelike, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{Automation, AutomationPatch, NewAutomation, Run, RunOutcome};
use super::repo;
use super::service::{self, Settings};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_automations)
        .service(create_automation)
        .service(get_automation)
        .service(update_automation)
        .service(delete_automation)
        .service(run_automation)
        .service(automation_runs);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AutomationListQuery {
    /// Only the enabled (true) or disabled (false) ones.
    pub enabled: Option<bool>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunQuery {
    /// Only show what it would do: nothing is written.
    pub dry_run: Option<bool>,
    /// Evaluate as if at this instant (default now), years 2000 to 2100: the days in the
    /// conditions and the tasks' due dates are counted from it.
    #[param(pattern = "^(20[0-9]{2}|2100)-")]
    pub as_of: Option<DateTime<Utc>>,
}

#[utoipa::path(
    tag = "automations",
    operation_id = "list_automations",
    params(AutomationListQuery),
    responses((status = 200, description = "Automations, by id", body = Page<Automation>)),
    security(("oauth2" = ["automations:read"]))
)]
#[get("/automations")]
async fn list_automations(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<AutomationListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AutomationsRead)?;
    let limit = pagination::limit(q.limit)?;
    let page = db::run(&state.pool, move |conn| repo::list(conn, q.enabled, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "automations",
    operation_id = "create_automation",
    request_body = NewAutomation,
    responses(
        (status = 201, description = "The automation", body = Automation, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The key is taken", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["automations:manage"]))
)]
#[post("/automations")]
async fn create_automation(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewAutomation>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AutomationsManage)?;
    let region = state.config.phone_region;
    let a = db::run_tx(&state.pool, move |conn| service::create(conn, input, &auth, region)).await?;
    Ok(created(&a, format!("/api/v1/automations/{}", a.id), a.id, a.version))
}

#[utoipa::path(
    tag = "automations",
    operation_id = "get_automation",
    params(("id" = i64, Path, description = "Automation id")),
    responses((status = 200, description = "The automation", body = Automation, headers(("ETag" = String)))),
    security(("oauth2" = ["automations:read"]))
)]
#[get("/automations/{id}")]
async fn get_automation(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AutomationsRead)?;
    let id = id.into_inner();
    let a = db::run(&state.pool, move |conn| repo::get(conn, id)).await?;
    Ok(ok_tagged(&a, a.id, a.version))
}

#[utoipa::path(
    tag = "automations",
    operation_id = "update_automation",
    params(
        ("id" = i64, Path, description = "Automation id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the automation changed since"),
    ),
    request_body = AutomationPatch,
    responses((status = 200, description = "The automation", body = Automation, headers(("ETag" = String)))),
    security(("oauth2" = ["automations:manage"]))
)]
#[patch("/automations/{id}")]
async fn update_automation(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<AutomationPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AutomationsManage)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let region = state.config.phone_region;
    let a = db::run_tx(&state.pool, move |conn| service::update(conn, id, patch, expected, &auth, region)).await?;
    Ok(ok_tagged(&a, a.id, a.version))
}

#[utoipa::path(
    tag = "automations",
    operation_id = "delete_automation",
    params(
        ("id" = i64, Path, description = "Automation id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the automation changed since"),
    ),
    responses((status = 204, description = "Deleted: it never runs again; its runs stay readable")),
    security(("oauth2" = ["automations:manage"]))
)]
#[delete("/automations/{id}")]
async fn delete_automation(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AutomationsManage)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    db::run_tx(&state.pool, move |conn| service::delete(conn, id, expected, &auth)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "automations",
    operation_id = "run_automation",
    params(("id" = i64, Path, description = "Automation id"), RunQuery),
    responses(
        (status = 200, description = "What the run did, or with dry_run would do", body = RunOutcome),
        (status = 409, description = "An event automation: it runs on its events", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["automations:manage"]))
)]
#[post("/automations/{id}/run")]
async fn run_automation(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AutomationsManage)?;
    let id = id.into_inner();
    let as_of = q.as_of.unwrap_or_else(Utc::now);
    if !(2000..=2100).contains(&as_of.year()) {
        return Err(ApiError::query("as_of", "must be between the years 2000 and 2100"));
    }
    if q.dry_run.unwrap_or(false) {
        let outcome = db::run(&state.pool, move |conn| service::dry_run(conn, id, as_of)).await?;
        return Ok(HttpResponse::Ok().json(outcome));
    }
    let settings = Settings::of(&state.config);
    let lease = settings.lease;
    let (a, run) = db::run_tx(&state.pool, move |conn| service::start_now(conn, id, as_of, lease)).await?;
    let pool = state.pool.clone();
    let finished = web::block(move || service::execute(&pool, &a, &run, &settings))
        .await
        .map_err(|_| ApiError::internal("the run could not be carried out"))??;
    let run = Run::from(finished);
    let outcome = RunOutcome {
        dry_run: false,
        as_of,
        subjects_matched: run.subjects_matched,
        skipped: run.skipped,
        actions: run.actions_taken.clone(),
        preview: Vec::new(),
        run: Some(run),
    };
    Ok(HttpResponse::Ok().json(outcome))
}

#[utoipa::path(
    tag = "automations",
    operation_id = "automation_runs",
    params(("id" = i64, Path, description = "Automation id (a deleted one's runs stay readable)"), RunsQuery),
    responses((status = 200, description = "Its runs, newest first", body = Page<Run>)),
    security(("oauth2" = ["automations:read"]))
)]
#[get("/automations/{id}/runs")]
async fn automation_runs(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AutomationsRead)?;
    let limit = pagination::limit(q.limit)?;
    let id = id.into_inner();
    let page = db::run(&state.pool, move |conn| service::runs(conn, id, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}
