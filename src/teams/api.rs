//! Team handlers, for those who manage the users.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{NewTeam, Team, TeamPatch};
use super::repo::{self, TeamFilter};
use super::service;
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_teams).service(create_team).service(get_team).service(update_team).service(delete_team);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TeamListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the teams this user is a member of.
    pub member_id: Option<i64>,
    /// Only the teams this user leads.
    pub lead_id: Option<i64>,
}

#[utoipa::path(
    tag = "users",
    operation_id = "list_teams",
    params(TeamListQuery),
    responses((status = 200, description = "A page of teams in id order, with their members", body = Page<Team>)),
    security(("oauth2" = ["users:manage"]))
)]
#[get("/teams")]
async fn list_teams(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<TeamListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    let limit = pagination::limit(q.limit)?;
    let filter = TeamFilter { member_id: q.member_id, lead_id: q.lead_id };
    let page = db::run(&state.pool, move |conn| repo::list(conn, &filter, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "users",
    operation_id = "create_team",
    request_body = NewTeam,
    responses(
        (status = 201, description = "The team", body = Team, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The name is taken", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["users:manage"]))
)]
#[post("/teams")]
async fn create_team(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewTeam>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    let t = db::run_tx(&state.pool, move |conn| service::create(conn, &auth, input)).await?;
    Ok(created(&t, format!("/api/v1/teams/{}", t.id), t.id, t.version))
}

#[utoipa::path(
    tag = "users",
    operation_id = "get_team",
    params(("id" = i64, Path, description = "Team id")),
    responses((status = 200, description = "The team", body = Team, headers(("ETag" = String)))),
    security(("oauth2" = ["users:manage"]))
)]
#[get("/teams/{id}")]
async fn get_team(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    let id = id.into_inner();
    let t = db::run(&state.pool, move |conn| repo::get(conn, id)).await?;
    Ok(ok_tagged(&t, t.id, t.version))
}

#[utoipa::path(
    tag = "users",
    operation_id = "update_team",
    params(
        ("id" = i64, Path, description = "Team id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the team changed since"),
    ),
    request_body = TeamPatch,
    responses(
        (status = 200, description = "The team", body = Team, headers(("ETag" = String))),
        (status = 409, description = "The name is taken", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["users:manage"]))
)]
#[patch("/teams/{id}")]
async fn update_team(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<TeamPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let t = db::run_tx(&state.pool, move |conn| service::update(conn, &auth, id, patch, expected)).await?;
    Ok(ok_tagged(&t, t.id, t.version))
}

#[utoipa::path(
    tag = "users",
    operation_id = "delete_team",
    params(
        ("id" = i64, Path, description = "Team id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the team changed since"),
    ),
    responses((status = 204, description = "Deleted; its members keep their clients")),
    security(("oauth2" = ["users:manage"]))
)]
#[delete("/teams/{id}")]
async fn delete_team(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    db::run_tx(&state.pool, move |conn| service::delete(conn, &auth, id, expected)).await?;
    Ok(HttpResponse::NoContent().finish())
}
