//! Deal handlers: list, create, read, change, move between stages, delete, stage history.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{Deal, DealPatch, DealStatus, NewDeal, StageChange, StageMove};
use super::repo::{self, DealFilter, DealSort, DEAL_SORTS};
use super::service;
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::{ApiError, FieldError};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page, Sort};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_deals)
        .service(create_deal)
        .service(get_deal)
        .service(update_deal)
        .service(delete_deal)
        .service(move_deal)
        .service(deal_history);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DealListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `title`, `created_at`, `updated_at` or `amount`; prefix `-` for descending. Default `-updated_at`.
    #[param(pattern = "^-?(title|created_at|updated_at|amount)$")]
    pub sort: Option<String>,
    pub pipeline_id: Option<i64>,
    pub stage_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub client_id: Option<i64>,
    pub status: Option<DealStatus>,
    /// Smallest amount, a decimal.
    #[param(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub amount_min: Option<String>,
    /// Largest amount, a decimal.
    #[param(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub amount_max: Option<String>,
    pub expected_close_from: Option<NaiveDate>,
    pub expected_close_to: Option<NaiveDate>,
    /// Only deals changed at or after this instant.
    pub updated_since: Option<DateTime<Utc>>,
}

fn amount_param(value: Option<&str>, field: &str) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            crate::money::parse_minor(v)
                .map_err(|message| ApiError::BadQuery(vec![FieldError { field: field.into(), message }]))
        })
        .transpose()
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "list_deals",
    params(DealListQuery),
    responses((status = 200, description = "A page of deals", body = Page<Deal>)),
    security(("oauth2" = ["deals:read"]))
)]
#[get("/deals")]
async fn list_deals(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<DealListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsRead)?;
    let limit = pagination::limit(q.limit)?;
    let sort = Sort::parse(q.sort.as_deref(), DEAL_SORTS, Sort { field: DealSort::UpdatedAt, desc: true })?;
    let filter = DealFilter {
        owner_only: auth.own_clients_only(),
        pipeline_id: q.pipeline_id,
        stage_id: q.stage_id,
        owner_id: q.owner_id,
        client_id: q.client_id,
        status: q.status,
        amount_min: amount_param(q.amount_min.as_deref(), "amount_min")?,
        amount_max: amount_param(q.amount_max.as_deref(), "amount_max")?,
        expected_close_from: q.expected_close_from,
        expected_close_to: q.expected_close_to,
        updated_since: q.updated_since.map(|t| t.naive_utc()),
    };
    let page = db::run(&state.pool, move |conn| repo::list(conn, &filter, sort, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "create_deal",
    request_body = NewDeal,
    responses((status = 201, description = "The deal, in its first stage (recorded in its history)", body = Deal, headers(("ETag" = String), ("Location" = String)))),
    security(("oauth2" = ["deals:write"]))
)]
#[post("/deals")]
async fn create_deal(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewDeal>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    let region = state.config.phone_region;
    let deal = db::run_tx(&state.pool, move |conn| service::create(conn, input, &auth, region)).await?;
    Ok(created(&deal, format!("/api/v1/deals/{}", deal.id), deal.id, deal.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "get_deal",
    params(("id" = i64, Path, description = "Deal id")),
    responses((status = 200, description = "The deal", body = Deal, headers(("ETag" = String)))),
    security(("oauth2" = ["deals:read"]))
)]
#[get("/deals/{id}")]
async fn get_deal(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsRead)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let deal = Deal::from(db::run(&state.pool, move |conn| repo::get_row(conn, id, owner_only)).await?);
    Ok(ok_tagged(&deal, deal.id, deal.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "update_deal",
    params(
        ("id" = i64, Path, description = "Deal id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the deal changed since"),
    ),
    request_body = DealPatch,
    responses((status = 200, description = "The deal", body = Deal, headers(("ETag" = String)))),
    security(("oauth2" = ["deals:write"]))
)]
#[patch("/deals/{id}")]
async fn update_deal(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<DealPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let region = state.config.phone_region;
    let deal = db::run_tx(&state.pool, move |conn| service::update(conn, id, patch, expected, &auth, region)).await?;
    Ok(ok_tagged(&deal, deal.id, deal.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "delete_deal",
    params(
        ("id" = i64, Path, description = "Deal id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the deal changed since"),
    ),
    responses((status = 204, description = "Soft-deleted; its history stays")),
    security(("oauth2" = ["deals:write", "clients:delete"]))
)]
#[delete("/deals/{id}")]
async fn delete_deal(
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

#[utoipa::path(
    tag = "funnel",
    operation_id = "move_deal",
    params(("id" = i64, Path, description = "Deal id")),
    request_body = StageMove,
    responses(
        (status = 200, description = "The deal in its new stage; the move is recorded", body = Deal, headers(("ETag" = String))),
        (status = 409, description = "The deal is closed and the stage closes it again: reopen it first", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["deals:write"]))
)]
#[post("/deals/{id}/stage")]
async fn move_deal(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiJson(input): ApiJson<StageMove>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    let id = id.into_inner();
    let deal = db::run_tx(&state.pool, move |conn| service::move_stage(conn, id, input, &auth)).await?;
    Ok(ok_tagged(&deal, deal.id, deal.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "deal_history",
    params(("id" = i64, Path, description = "Deal id")),
    responses((status = 200, description = "Every stage the deal entered, oldest first", body = Vec<StageChange>)),
    security(("oauth2" = ["deals:read"]))
)]
#[get("/deals/{id}/history")]
async fn deal_history(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsRead)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let history = db::run(&state.pool, move |conn| repo::history(conn, id, owner_only)).await?;
    Ok(HttpResponse::Ok().json(history))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_pattern_lists_the_sorts_accepted() {
        let declared = crate::openapi::param_pattern::<DealListQuery>("sort");
        assert_eq!(declared, Some(Sort::<DealSort>::pattern(DEAL_SORTS)));
    }
}
