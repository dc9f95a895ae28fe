//! Webhook handlers: endpoints (create, list, change, rotate the secret, delete, test) and
//! their delivery log (list, redeliver).

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::deliveries::{self, Delivery, DeliveryFilter, DeliveryStatus};
use super::{NewWebhook, Webhook, WebhookPatch, WebhookWithSecret};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::ssrf;
use crate::http::{if_match, ok_tagged};
use crate::pagination::{self, Page};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_webhooks)
        .service(create_webhook)
        .service(get_webhook)
        .service(update_webhook)
        .service(delete_webhook)
        .service(rotate_secret)
        .service(list_deliveries)
        .service(redeliver)
        .service(test_webhook);
}

#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhooks",
    responses((status = 200, description = "All endpoints", body = Vec<Webhook>)),
    security(("oauth2" = ["webhooks:manage"]))
)]
#[get("/webhooks")]
async fn list_webhooks(state: web::Data<AppState>, auth: Caller) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::WebhooksManage)?;
    let rows = db::run(&state.pool, |conn| Ok(super::list(conn)?)).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(Webhook::from).collect::<Vec<_>>()))
}

#[utoipa::path(
    tag = "webhooks",
    operation_id = "create_webhook",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "The endpoint and its signing secret, shown only now", body = WebhookWithSecret),
        (status = 409, description = "The name is taken", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["webhooks:manage"]))
)]
#[post("/webhooks")]
async fn create_webhook(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewWebhook>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::WebhooksManage)?;
    let url_error = ssrf::check_url(&input.url, &state.config.webhook_allowed).await.err();
    let created = db::run_tx(&state.pool, move |conn| super::create(conn, input, url_error)).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/webhooks/{}", created.webhook.id)))
        .json(created))
}

#[utoipa::path(
    tag = "webhooks",
    operation_id = "get_webhook",
    params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 200, description = "The endpoint", body = Webhook, headers(("ETag" = String)))),
    security(("oauth2" = ["webhooks:manage"]))
)]
#[get("/webhooks/{id}")]
async fn get_webhook(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::WebhooksManage)?;
    let id = id.into_inner();
    let w = Webhook::from(db::run(&state.pool, move |conn| super::get(conn, id)).await?);
    Ok(ok_tagged(&w, w.id, w.version))
}

#[utoipa::path(
    tag = "webhooks",
    operation_id = "update_webhook",
    params(
        ("id" = i64, Path, description = "Webhook id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the endpoint changed since"),
    ),
    request_body = WebhookPatch,
    responses((status = 200, description = "The endpoint", body = Webhook, headers(("ETag" = String)))),
    security(("oauth2" = ["webhooks:manage"]))
)]
#[patch("/webhooks/{id}")]
async fn update_webhook(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<WebhookPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::WebhooksManage)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let url_error = match &patch.url {
        Some(url) => ssrf::check_url(url, &state.config.webhook_allowed).await.err(),
        None => None,
    };
    let w = db::run_tx(&state.pool, move |conn| super::update(conn, id, patch, url_error, expected)).await?;
    Ok(ok_tagged(&w, w.id, w.version))
}

#[utoipa::path(
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 204, description = "Deleted with its delivery log")),
    security(("oauth2" = ["webhooks:manage"]))
)]
#[delete("/webhooks/{id}")]
async fn delete_webhook(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::WebhooksManage)?;
    let id = id.into_inner();
    db::run_tx(&state.pool, move |conn| super::delete(conn, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 200, description = "The new secret, shown only now; messages carry signatures with both secrets during the grace period", body = WebhookWithSecret)),
    security(("oauth2" = ["webhooks:manage"]))
)]
#[post("/webhooks/{id}/rotate-secret")]
async fn rotate_secret(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::WebhooksManage)?;
    let (id, grace) = (id.into_inner(), state.config.webhook_secret_grace_hours);
    let rotated = db::run_tx(&state.pool, move |conn| super::rotate(conn, id, grace)).await?;
    Ok(HttpResponse::Ok().json(rotated))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListQuery {
    #[param(inline)]
    pub status: Option<DeliveryStatus>,
    /// Page size, 1 to 200 (default 50). Newest first.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_deliveries",
    params(("id" = i64, Path, description = "Webhook id"), DeliveryListQuery),
    responses((status = 200, description = "The delivery log, newest first", body = Page<Delivery>)),
    security(("oauth2" = ["webhooks:manage"]))
)]
#[get("/webhooks/{id}/deliveries")]
async fn list_deliveries(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiQuery(q): ApiQuery<DeliveryListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::WebhooksManage)?;
    let limit = pagination::limit(q.limit)?;
    let id = id.into_inner();
    let filter = DeliveryFilter { status: q.status };
    let page =
        db::run(&state.pool, move |conn| deliveries::list(conn, id, &filter, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "webhooks",
    operation_id = "redeliver",
    params(("id" = i64, Path, description = "Webhook id"), ("delivery_id" = i64, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Queued again, with the same webhook-id", body = Delivery),
        (status = 409, description = "The endpoint is disabled", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["webhooks:manage"]))
)]
#[post("/webhooks/{id}/deliveries/{delivery_id}/redeliver")]
async fn redeliver(
    state: web::Data<AppState>,
    auth: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::WebhooksManage)?;
    let (id, delivery_id) = path.into_inner();
    let d = db::run_tx(&state.pool, move |conn| deliveries::redeliver(conn, id, delivery_id)).await?;
    Ok(HttpResponse::Accepted().json(d))
}

#[utoipa::path(
    tag = "webhooks",
    operation_id = "test_webhook",
    params(("id" = i64, Path, description = "Webhook id")),
    responses((status = 202, description = "A `webhook.test` message is queued for the endpoint", body = Delivery)),
    security(("oauth2" = ["webhooks:manage"]))
)]
#[post("/webhooks/{id}/test")]
async fn test_webhook(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::WebhooksManage)?;
    let id = id.into_inner();
    let d = db::run_tx(&state.pool, move |conn| deliveries::ping(conn, id)).await?;
    Ok(HttpResponse::Accepted().json(d))
}
