//! The sales endpoints: purchases one by one, and in batches.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{NewSale, Sale, SaleDraft, SaleFilter, SalePatch, SalesBatch};
use super::{repo, service};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::batch::{BatchQuery, BatchResult, ItemStatus};
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_sales)
        .service(create_sale)
        .service(sales_batch)
        .service(get_sale)
        .service(update_sale)
        .service(delete_sale);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SaleListQuery {
    /// Page size, 1 to 200 (default 50). Newest purchases first.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    pub client_id: Option<i64>,
    /// Sold on or after this date.
    pub from: Option<NaiveDate>,
    /// Sold on or before this date.
    pub to: Option<NaiveDate>,
    /// Only sales changed at or after this instant.
    pub updated_since: Option<DateTime<Utc>>,
}

#[utoipa::path(
    tag = "sales",
    operation_id = "list_sales",
    params(SaleListQuery),
    responses((status = 200, description = "A page of purchases, newest first", body = Page<Sale>)),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/sales")]
async fn list_sales(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<SaleListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let limit = pagination::limit(q.limit)?;
    let filter = SaleFilter {
        owner_only: auth.own_clients_only(),
        client_id: q.client_id,
        from: q.from,
        to: q.to,
        updated_since: q.updated_since.map(|t| t.naive_utc()),
    };
    let page = db::run(&state.pool, move |conn| repo::list(conn, &filter, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "sales",
    operation_id = "create_sale",
    request_body = NewSale,
    responses((status = 201, description = "The purchase; the client's figures are updated", body = Sale, headers(("ETag" = String), ("Location" = String)))),
    security(("oauth2" = ["deals:write"]))
)]
#[post("/sales")]
async fn create_sale(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewSale>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    let currency = state.config.currency.clone();
    let sale = db::run_tx(&state.pool, move |conn| {
        let mut result = service::apply(conn, vec![SaleDraft::of_new(input)], None, &auth, &currency)?;
        let item = result.pop().ok_or_else(|| ApiError::internal("no result for the sale"))?;
        match (item.status, item.id) {
            (ItemStatus::Created, Some(id)) => repo::get(conn, id, None),
            _ => Err(ApiError::Validation(item.errors.unwrap_or_default())),
        }
    })
    .await?;
    Ok(created(&sale, format!("/api/v1/sales/{}", sale.id), sale.id, sale.version))
}

#[utoipa::path(
    tag = "sales",
    operation_id = "sales_batch",
    params(BatchQuery),
    request_body = SalesBatch,
    responses((status = 200, description = "A result per item; bad items do not stop the good ones", body = BatchResult)),
    security(("oauth2" = ["deals:write"]))
)]
#[post("/sales/batch")]
async fn sales_batch(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<BatchQuery>,
    ApiJson(body): ApiJson<SalesBatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    Ok(HttpResponse::Ok()
        .json(service::run_batch(&state.pool, &state.config.currency, body, false, q.dry_run, auth).await?))
}

#[utoipa::path(
    tag = "sales",
    operation_id = "get_sale",
    params(("id" = i64, Path, description = "Sale id")),
    responses((status = 200, description = "The purchase", body = Sale, headers(("ETag" = String)))),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/sales/{id}")]
async fn get_sale(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let sale = db::run(&state.pool, move |conn| repo::get(conn, id, owner_only)).await?;
    Ok(ok_tagged(&sale, sale.id, sale.version))
}

#[utoipa::path(
    tag = "sales",
    operation_id = "update_sale",
    params(
        ("id" = i64, Path, description = "Sale id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the sale changed since"),
    ),
    request_body = SalePatch,
    responses((status = 200, description = "The purchase", body = Sale, headers(("ETag" = String)))),
    security(("oauth2" = ["deals:write"]))
)]
#[patch("/sales/{id}")]
async fn update_sale(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<SalePatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let currency = state.config.currency.clone();
    let sale =
        db::run_tx(&state.pool, move |conn| service::update(conn, id, patch, expected, &auth, &currency)).await?;
    Ok(ok_tagged(&sale, sale.id, sale.version))
}

#[utoipa::path(
    tag = "sales",
    operation_id = "delete_sale",
    params(
        ("id" = i64, Path, description = "Sale id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the sale changed since"),
    ),
    responses((status = 204, description = "Deleted; the client's figures are updated")),
    security(("oauth2" = ["deals:write", "clients:delete"]))
)]
#[delete("/sales/{id}")]
async fn delete_sale(
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
