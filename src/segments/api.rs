//! The segment endpoints: saved segments, and their members now (a page of them, or a count).

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{NewSegment, Segment, SegmentCount, SegmentPatch};
use super::{repo, service};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::clients::model::Client;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_segments)
        .service(create_segment)
        .service(get_segment)
        .service(update_segment)
        .service(delete_segment)
        .service(segment_clients)
        .service(segment_count);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "list_segments",
    params(PageQuery),
    responses((status = 200, description = "Saved segments", body = Page<Segment>)),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/segments")]
async fn list_segments(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let limit = pagination::limit(q.limit)?;
    let page = db::run(&state.pool, move |conn| repo::list(conn, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "create_segment",
    request_body = NewSegment,
    responses((status = 201, description = "The segment", body = Segment, headers(("ETag" = String), ("Location" = String)))),
    security(("oauth2" = ["campaigns:write"]))
)]
#[post("/segments")]
async fn create_segment(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewSegment>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::CampaignsWrite)?;
    let owner = auth.user_id;
    let region = state.config.phone_region;
    let s = db::run_tx(&state.pool, move |conn| service::create(conn, input, owner, region)).await?;
    Ok(created(&s, format!("/api/v1/segments/{}", s.id), s.id, s.version))
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "get_segment",
    params(("id" = i64, Path, description = "Segment id")),
    responses((status = 200, description = "The segment", body = Segment, headers(("ETag" = String)))),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/segments/{id}")]
async fn get_segment(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let id = id.into_inner();
    let s = db::run(&state.pool, move |conn| repo::get(conn, id)).await?;
    Ok(ok_tagged(&s, s.id, s.version))
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "update_segment",
    params(
        ("id" = i64, Path, description = "Segment id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the segment changed since"),
    ),
    request_body = SegmentPatch,
    responses((status = 200, description = "The segment", body = Segment, headers(("ETag" = String)))),
    security(("oauth2" = ["campaigns:write"]))
)]
#[patch("/segments/{id}")]
async fn update_segment(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<SegmentPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::CampaignsWrite)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let region = state.config.phone_region;
    let s = db::run_tx(&state.pool, move |conn| service::update(conn, id, patch, expected, region)).await?;
    Ok(ok_tagged(&s, s.id, s.version))
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "delete_segment",
    params(("id" = i64, Path, description = "Segment id")),
    responses((status = 204, description = "Deleted (the clients are untouched)")),
    security(("oauth2" = ["campaigns:write"]))
)]
#[delete("/segments/{id}")]
async fn delete_segment(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::CampaignsWrite)?;
    let id = id.into_inner();
    db::run_tx(&state.pool, move |conn| repo::delete(conn, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "segment_clients",
    params(("id" = i64, Path, description = "Segment id"), PageQuery),
    responses((status = 200, description = "The clients in the segment now, by id", body = Page<Client>)),
    security(("oauth2" = ["analytics:read", "clients:read"]))
)]
#[get("/segments/{id}/clients")]
async fn segment_clients(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    auth.require(Scope::ClientsRead)?;
    let limit = pagination::limit(q.limit)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let page =
        db::run(&state.pool, move |conn| service::member_clients(conn, id, owner_only, q.cursor.as_deref(), limit))
            .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "segment_count",
    params(("id" = i64, Path, description = "Segment id")),
    responses((status = 200, description = "How many clients are in the segment now", body = SegmentCount)),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/segments/{id}/count")]
async fn segment_count(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let clients = db::run(&state.pool, move |conn| service::member_count(conn, id, owner_only)).await?;
    Ok(HttpResponse::Ok().json(SegmentCount { segment_id: id, clients }))
}
