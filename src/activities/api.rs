//! Activity handlers: the interaction history listed, logged, corrected and deleted.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{Activity, ActivityFilter, ActivityPatch, ActivityType, NewActivity};
use super::{repo, service};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_activities)
        .service(create_activity)
        .service(get_activity)
        .service(update_activity)
        .service(delete_activity);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActivityListQuery {
    /// Page size, 1 to 200 (default 50). Newest first.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub client_id: Option<i64>,
    pub deal_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub author_id: Option<i64>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub activity_type: Option<ActivityType>,
    /// Occurred at or after this instant.
    pub occurred_from: Option<DateTime<Utc>>,
    /// Occurred before this instant.
    pub occurred_to: Option<DateTime<Utc>>,
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "list_activities",
    params(ActivityListQuery),
    responses((status = 200, description = "A page of activities, newest first", body = Page<Activity>)),
    security(("oauth2" = ["deals:read"]))
)]
#[get("/activities")]
async fn list_activities(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<ActivityListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsRead)?;
    let limit = pagination::limit(q.limit)?;
    let filter = ActivityFilter {
        owner_only: auth.own_clients_only(),
        client_id: q.client_id,
        deal_id: q.deal_id,
        contact_id: q.contact_id,
        author_id: q.author_id,
        activity_type: q.activity_type,
        occurred_from: q.occurred_from.map(|t| t.naive_utc()),
        occurred_to: q.occurred_to.map(|t| t.naive_utc()),
    };
    let page = db::run(&state.pool, move |conn| repo::list(conn, &filter, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "create_activity",
    request_body = NewActivity,
    responses((status = 201, description = "The activity, authored by the caller", body = Activity, headers(("ETag" = String), ("Location" = String)))),
    security(("oauth2" = ["deals:write"]))
)]
#[post("/activities")]
async fn create_activity(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewActivity>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    let author = auth.user_id;
    let a = db::run_tx(&state.pool, move |conn| service::create(conn, input, &auth, author)).await?;
    Ok(created(&a, format!("/api/v1/activities/{}", a.id), a.id, a.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "get_activity",
    params(("id" = i64, Path, description = "Activity id")),
    responses((status = 200, description = "The activity", body = Activity, headers(("ETag" = String)))),
    security(("oauth2" = ["deals:read"]))
)]
#[get("/activities/{id}")]
async fn get_activity(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsRead)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let a = db::run(&state.pool, move |conn| repo::get(conn, id, owner_only)).await?;
    Ok(ok_tagged(&a, a.id, a.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "update_activity",
    params(
        ("id" = i64, Path, description = "Activity id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the activity changed since"),
    ),
    request_body = ActivityPatch,
    responses((status = 200, description = "The activity", body = Activity, headers(("ETag" = String)))),
    security(("oauth2" = ["deals:write"]))
)]
#[patch("/activities/{id}")]
async fn update_activity(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<ActivityPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    let id = id.into_inner();
    let (expected, edit_window) = (if_match(&req, id)?, state.config.activity_edit_hours);
    let a = db::run_tx(&state.pool, move |conn| service::update(conn, id, patch, expected, &auth, edit_window)).await?;
    Ok(ok_tagged(&a, a.id, a.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "delete_activity",
    params(
        ("id" = i64, Path, description = "Activity id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the activity changed since"),
    ),
    responses((status = 204, description = "Soft-deleted")),
    security(("oauth2" = ["deals:write", "clients:delete"]))
)]
#[delete("/activities/{id}")]
async fn delete_activity(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    auth.require(Scope::ClientsDelete)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    db::run_tx(&state.pool, move |conn| service::delete(conn, id, expected, &auth)).await?;
    Ok(HttpResponse::NoContent().finish())
}
