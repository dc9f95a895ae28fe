//! Client card handlers: create, list and search, read, change, delete and restore.

pub mod base;

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::audit;
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::clients::model::{Client, ClientPatch, ClientStatus, NewClient};
use crate::clients::repo::{self, ClientFilter, Search, CLIENT_SORTS, DEFAULT_SORT};
use crate::clients::service::{self, CardRules};
use crate::custom_fields::{self, CustomEntity};
use crate::db::{self, DbConn};
use crate::error::ApiError;
use crate::http::extract::{ApiJson, QueryWithCustom};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page, Sort};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_clients)
        .service(create_client)
        .service(get_client)
        .service(update_client)
        .service(delete_client)
        .service(restore_client);
}

/// Filters shared by the client list (and, later, export and segments).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClientListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `name`, `created_at` or `updated_at`; prefix `-` for descending. Default `-updated_at`.
    #[param(pattern = "^-?(name|created_at|updated_at)$")]
    pub sort: Option<String>,
    pub status: Option<ClientStatus>,
    /// Channel code.
    pub channel: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub owner_id: Option<i64>,
    pub tag: Option<String>,
    /// Case-insensitive search: the name, legal name or INN contains the term, an email starts
    /// with it, or a phone ends with its digits (the whole number in any format, or the local
    /// number without the code). Names are compared word by word: `ё` reads as `е`, quotes and
    /// punctuation are ignored, and so are the legal forms (ООО, ИП, АО…) of a term that has
    /// other words: `ООО «Ёлка»` finds a card named `Елка`, `ИП` the cards named with it.
    pub q: Option<String>,
    /// Only clients changed at or after this instant (RFC 3339).
    pub updated_since: Option<DateTime<Utc>>,
    /// Only cards with this role (`client` also takes the cards that have other roles too).
    pub role: Option<crate::clients::model::CounterpartyRole>,
    // Filterable custom fields add `cf.<key>=value` (repeat it for any of several values; an
    // option's code or label) and, for numbers, decimals and dates, `cf.<key>.gte=` and
    // `cf.<key>.lte=`; they are read apart from these parameters.
}

impl ClientListQuery {
    pub fn filter(&self, auth: &Caller, region: phonenumber::country::Id) -> ClientFilter {
        ClientFilter {
            owner_only: auth.own_clients_only(),
            status: self.status,
            channel: self.channel.clone(),
            region: self.region.clone(),
            industry: self.industry.clone(),
            owner_id: self.owner_id,
            tag: self.tag.clone(),
            q: self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(|q| Search::new(q, region)),
            updated_since: self.updated_since.map(|t| t.naive_utc()),
            role: self.role,
            custom: Vec::new(),
        }
    }
}

#[utoipa::path(
    tag = "clients",
    operation_id = "list_clients",
    params(ClientListQuery),
    responses((status = 200, description = "A page of clients", body = Page<Client>)),
    security(("oauth2" = ["clients:read"]))
)]
#[get("/clients")]
async fn list_clients(
    state: web::Data<AppState>,
    auth: Caller,
    QueryWithCustom(q, cf): QueryWithCustom<ClientListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsRead)?;
    let limit = pagination::limit(q.limit)?;
    let sort = Sort::parse(q.sort.as_deref(), CLIENT_SORTS, DEFAULT_SORT)?;
    let region = state.config.phone_region;
    let mut filter = q.filter(&auth, region);
    let page = db::run(&state.pool, move |conn| {
        filter.custom = custom_fields::service::query_predicates(conn, CustomEntity::Client, &cf, region)?;
        repo::list(conn, &filter, sort, q.cursor.as_deref(), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "clients",
    operation_id = "create_client",
    request_body = NewClient,
    responses((status = 201, description = "The client was created", body = Client, headers(("ETag" = String), ("Location" = String)))),
    security(("oauth2" = ["clients:write"]))
)]
#[post("/clients")]
async fn create_client(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewClient>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsWrite)?;
    let rules = CardRules::for_caller(&auth, state.config.phone_region);
    let client = db::run_tx(&state.pool, move |conn| service::create(conn, input, &auth, rules)).await?;
    Ok(created(&client, format!("/api/v1/clients/{}", client.id), client.id, client.version))
}

#[utoipa::path(
    tag = "clients",
    operation_id = "get_client",
    params(("id" = i64, Path, description = "Client id")),
    responses(
        (status = 200, description = "The client card", body = Client, headers(("ETag" = String))),
        (status = 410, description = "The client was merged into another; `merged_into` names it", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["clients:read"]))
)]
#[get("/clients/{id}")]
async fn get_client(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsRead)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let client =
        db::run(&state.pool, move |conn| repo::get(conn, id, owner_only).or_else(|e| gone(conn, id, owner_only, e)))
            .await?;
    Ok(ok_tagged(&client, client.id, client.version))
}

#[utoipa::path(
    tag = "clients",
    operation_id = "update_client",
    params(
        ("id" = i64, Path, description = "Client id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the client changed since"),
    ),
    request_body = ClientPatch,
    responses(
        (status = 200, description = "The updated client", body = Client, headers(("ETag" = String))),
        (status = 410, description = "The client was merged into another; `merged_into` names it", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["clients:write"]))
)]
#[patch("/clients/{id}")]
async fn update_client(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<ClientPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsWrite)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let region = state.config.phone_region;
    let client = db::run_tx(&state.pool, move |conn| {
        service::update(conn, id, patch, expected, &auth, region)
            .or_else(|e| gone(conn, id, auth.own_clients_only(), e))
    })
    .await?;
    Ok(ok_tagged(&client, client.id, client.version))
}

#[utoipa::path(
    tag = "clients",
    operation_id = "delete_client",
    params(
        ("id" = i64, Path, description = "Client id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the client changed since"),
    ),
    responses(
        (status = 204, description = "Soft-deleted: hidden from lists and reads until restored (recorded in the audit log)"),
        (status = 410, description = "The client was merged into another; `merged_into` names it", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["clients:delete"]))
)]
#[delete("/clients/{id}")]
async fn delete_client(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // A bad If-Match is reported only to a caller allowed to delete.
    let expected = if_match(&req, id);
    let (owner_only, origin) = (auth.own_clients_only(), auth.origin());
    let target = Some(("client", id));
    audit::guarded(&state.pool, &auth, Scope::ClientsDelete, "clients.delete", target, json!({}), move |conn| {
        repo::soft_delete(conn, id, owner_only, expected?, &origin).or_else(|e| gone(conn, id, owner_only, e))
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    tag = "clients",
    operation_id = "restore_client",
    params(("id" = i64, Path, description = "Client id")),
    responses((status = 200, description = "The restored client", body = Client, headers(("ETag" = String)))),
    security(("oauth2" = ["clients:delete"]))
)]
#[post("/clients/{id}/restore")]
async fn restore_client(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsDelete)?;
    let id = id.into_inner();
    let (owner_only, origin) = (auth.own_clients_only(), auth.origin());
    let client = db::run_tx(&state.pool, move |conn| repo::restore(conn, id, owner_only, &origin)).await?;
    Ok(ok_tagged(&client, client.id, client.version))
}

/// A client that was merged away answers 410 with the id it lives on now.
fn gone<T>(conn: &mut DbConn, id: i64, owner_only: Option<i64>, e: ApiError) -> Result<T, ApiError> {
    match e {
        ApiError::NotFound => match crate::clients::service::base::merged_into(conn, id, owner_only)? {
            Some(survivor) => Err(ApiError::Merged { id, survivor }),
            None => Err(ApiError::NotFound),
        },
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_pattern_lists_the_sorts_accepted() {
        let declared = crate::openapi::param_pattern::<ClientListQuery>("sort");
        assert_eq!(declared, Some(Sort::<crate::clients::repo::ClientSort>::pattern(CLIENT_SORTS)));
    }
}
