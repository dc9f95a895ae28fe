//! Operations handlers: liveness, readiness, Prometheus metrics, the OpenAPI document and the
//! Swagger UI (its assets are compiled in; nothing is fetched at run time).

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use diesel::connection::SimpleConnection;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(live).service(ready).service(metrics).service(openapi_json);
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

#[utoipa::path(
    tag = "operations",
    operation_id = "health_live",
    responses((status = 200, description = "The process is up", body = Health)),
    security(())
)]
#[get("/health/live")]
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok".into() })
}

#[utoipa::path(
    tag = "operations",
    operation_id = "health_ready",
    responses(
        (status = 200, description = "The database answers", body = Health),
        (status = 503, description = "The database does not answer", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
#[get("/health/ready")]
async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // A probe must answer within its own timeout whatever the database does: a check that
    // cannot finish in time is a failed one.
    let check = db::run(&state.pool, |conn| conn.batch_execute("SELECT 1").map_err(|_| ApiError::Unavailable));
    tokio::time::timeout(READY_WITHIN, check).await.map_err(|_| ApiError::Unavailable)??;
    Ok(HttpResponse::Ok().json(Health { status: "ok".into() }))
}

/// How long readiness waits for the database before answering 503.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(800);

#[utoipa::path(
    tag = "operations",
    operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")),
    security(())
)]
#[get("/metrics")]
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .body(state.metrics.render(&state.pool) + &state.memo.render())
}

#[utoipa::path(
    tag = "operations",
    operation_id = "openapi",
    responses((status = 200, description = "This OpenAPI document", body = Object)),
    security(())
)]
#[get("/openapi.json")]
async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CONTENT_TYPE, "application/json")).body(state.openapi_json.clone())
}
