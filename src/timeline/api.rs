//! The timeline handler.

use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{EntryKind, TimelineEntry};
use super::repo::page;
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::pagination::{self, Page};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(client_timeline);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Comma-separated entry types to include (default all): `activity`, `deal_created`,
    /// `deal_stage_changed`, `task_completed`, `purchase`, `campaign`.
    #[param(
        pattern = "^(activity|deal_created|deal_stage_changed|task_completed|purchase|campaign)(,(activity|deal_created|deal_stage_changed|task_completed|purchase|campaign))*$"
    )]
    pub types: Option<String>,
}

#[utoipa::path(
    tag = "clients",
    operation_id = "client_timeline",
    params(("id" = i64, Path, description = "Client id"), TimelineQuery),
    responses((status = 200, description = "The client's history, newest first", body = Page<TimelineEntry>)),
    security(("oauth2" = ["clients:read", "deals:read"]))
)]
#[get("/clients/{id}/timeline")]
async fn client_timeline(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsRead)?;
    auth.require(Scope::DealsRead)?;
    let limit = pagination::limit(q.limit)?;
    let kinds: Vec<EntryKind> = match q.types.as_deref() {
        None => EntryKind::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|t| {
                EntryKind::parse(t.trim())
                    .ok_or_else(|| ApiError::query("types", format!("unknown type '{}'", t.trim())))
            })
            .collect::<Result<_, _>>()?,
    };
    let mut kinds = kinds;
    kinds.sort_by_key(|k| k.as_str());
    kinds.dedup();
    if kinds.is_empty() {
        return Err(ApiError::query("types", "name at least one type"));
    }
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let page = db::run(&state.pool, move |conn| page(conn, id, owner_only, &kinds, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_pattern_lists_the_entry_types() {
        let declared = crate::openapi::param_pattern::<TimelineQuery>("types");
        assert_eq!(declared, Some(crate::openapi::comma_list_pattern(EntryKind::ALL.iter().map(|k| k.as_str()))));
    }
}
