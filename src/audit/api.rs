//! The audit log handler: read the record, newest first, filtered.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{AuditEntry, AuditFilter};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::pagination::{self, Page};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_audit_log);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `user:<id>` or `client:<client_id>`.
    pub actor: Option<String>,
    /// E.g. `clients.export`.
    pub action: Option<String>,
    /// At or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1 to 200 (default 50). Newest first.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    tag = "audit",
    operation_id = "list_audit_log",
    params(AuditQuery),
    responses((status = 200, description = "The audit log, newest first (append-only)", body = Page<AuditEntry>)),
    security(("oauth2" = ["audit:read"]))
)]
#[get("/audit-log")]
async fn list_audit_log(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AuditRead)?;
    let limit = pagination::limit(q.limit)?;
    let filter = AuditFilter {
        actor: q.actor,
        action: q.action,
        from: q.from.map(|t| t.naive_utc()),
        to: q.to.map(|t| t.naive_utc()),
    };
    let page = db::run(&state.pool, move |conn| super::list(conn, &filter, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}
