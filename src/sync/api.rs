//! Sync handlers: client and sales batches from a source system, and the change feed.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, ToSchema};

use super::repo::{self as feed, ChangePage, Position};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::batch::{self, BatchQuery, BatchResult};
use crate::clients::model::ClientPatch;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::sales::{self, service::SalesBatch};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(sync_clients).service(sync_sales).service(changes);
}

/// One client as the source system knows it: its keys beside the card fields of `ClientPatch`
/// (absent ones are left as they are, `null` clears; `name` is required to create a client).
/// Only documents the shape: items are parsed one by one by `parse_client_item`, so that a bad
/// item fails alone.
pub struct SyncClientItem;

/// The members of a sync item that are not card fields.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SyncClientKeys {
    /// The client's id in the source system: the key of the upsert.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    external_id: String,
    /// The owner, by email (instead of `owner_id`).
    owner_email: Option<String>,
}

/// One object of the keys and the card fields, as the item is read: the derive would combine
/// them with `allOf`, which `ClientPatch`'s `additionalProperties: false` makes unsatisfiable.
/// `external_ids` is left out: each source sends its own `external_id`.
impl utoipa::PartialSchema for SyncClientItem {
    fn schema() -> RefOr<Schema> {
        let (RefOr::T(Schema::Object(mut item)), RefOr::T(Schema::Object(card))) =
            (SyncClientKeys::schema(), ClientPatch::schema())
        else {
            return SyncClientKeys::schema();
        };
        for (name, property) in card.properties {
            if name != "external_ids" {
                item.properties.insert(name, property);
            }
        }
        item.additional_properties = card.additional_properties;
        item.description = Some(
            "One client as the source system knows it: the card fields (absent ones are left as they \
             are, `null` clears; `name` is required to create a client) and its keys."
                .into(),
        );
        RefOr::T(Schema::Object(item))
    }
}

impl ToSchema for SyncClientItem {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <ClientPatch as ToSchema>::schemas(schemas);
    }
}

/// Up to 1000 clients from one source.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientsBatch {
    /// The source system, e.g. `1c`; it scopes `external_id` and names the changes in the feed.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,50}$")]
    pub source: String,
    #[schema(value_type = Vec<SyncClientItem>, min_items = 1, max_items = 1000)]
    pub items: Vec<batch::RawItem>,
}

#[utoipa::path(
    tag = "integrations",
    operation_id = "sync_clients",
    params(BatchQuery),
    request_body = ClientsBatch,
    responses((status = 200, description = "A result per item: created, updated, unchanged or error", body = BatchResult)),
    security(("oauth2" = ["sync:write"]))
)]
#[post("/sync/clients")]
async fn sync_clients(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<BatchQuery>,
    ApiJson(body): ApiJson<ClientsBatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SyncWrite)?;
    let source = batch::check_batch(Some(&body.source), &body.items, true)?.unwrap_or_default();
    let mut results = Vec::new();
    let mut items = Vec::with_capacity(body.items.len());
    for (i, raw) in body.items.iter().enumerate() {
        match super::parse_client_item(i, raw) {
            Ok(item) => items.push(item),
            Err(failed) => results.push(failed),
        }
    }
    let origin = auth.via(&source).origin();
    let region = state.config.phone_region;
    let applied =
        batch::run(&state.pool, q.dry_run, move |conn| super::apply_clients(conn, items, &source, &origin, region))
            .await?;
    results.extend(applied);
    Ok(HttpResponse::Ok().json(BatchResult::of(q.dry_run, results)))
}

/// The body of `/sync/sales`: a [`SalesBatch`] whose `source` is required. Only documents the
/// shape; the body is read as a `SalesBatch`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SyncSalesBatch {
    /// The system the items come from, e.g. `1c`; scopes `external_id` and `client_external_id`.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,50}$")]
    source: String,
    #[schema(value_type = Vec<crate::sales::model::SaleItem>, min_items = 1, max_items = 1000)]
    items: Vec<batch::RawItem>,
}

#[utoipa::path(
    tag = "integrations",
    operation_id = "sync_sales",
    params(BatchQuery),
    request_body = SyncSalesBatch,
    responses((status = 200, description = "A result per item; a sale whose client is not synced yet is an item error", body = BatchResult)),
    security(("oauth2" = ["sync:write"]))
)]
#[post("/sync/sales")]
async fn sync_sales(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<BatchQuery>,
    ApiJson(body): ApiJson<SalesBatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SyncWrite)?;
    Ok(HttpResponse::Ok()
        .json(sales::service::run_batch(&state.pool, &state.config.currency, body, true, q.dry_run, auth).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// The `next_cursor` of the previous read; omit to start from the beginning.
    pub since: Option<String>,
    /// Comma-separated: `clients`, `contacts`, `deals`, `activities`, `tasks`, `sales`,
    /// `campaigns` (default: all you may read).
    #[param(
        pattern = "^(clients|contacts|deals|activities|tasks|sales|campaigns)(,(clients|contacts|deals|activities|tasks|sales|campaigns))*$"
    )]
    pub types: Option<String>,
    /// Leave out changes made by this source (a sync job's own writes).
    pub exclude_source: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Entity type and the scope that reads it, per feed type.
const TYPES: [(&str, &str, Scope); 7] = [
    ("clients", "client", Scope::ClientsRead),
    ("contacts", "contact", Scope::ClientsRead),
    ("deals", "deal", Scope::DealsRead),
    ("activities", "activity", Scope::DealsRead),
    ("tasks", "task", Scope::DealsRead),
    ("sales", "sale", Scope::AnalyticsRead),
    ("campaigns", "campaign", Scope::CampaignsRead),
];

#[utoipa::path(
    tag = "integrations",
    operation_id = "sync_changes",
    params(ChangesQuery),
    responses((status = 200, description = "Changes in commit order, deletions and merges included", body = ChangePage)),
    security(("oauth2" = ["clients:read"]))
)]
#[get("/sync/changes")]
async fn changes(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsRead)?;
    if auth.own_clients_only().is_some() {
        return Err(ApiError::Forbidden("the change feed covers the whole base; it is not for managers".into()));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::query("limit", "must be between 1 and 1000"));
    }
    let since = q.since.as_deref().map(Position::decode).transpose()?.unwrap_or_default();
    let entity_types: Vec<&str> = match q.types.as_deref() {
        None => TYPES.iter().filter(|(_, _, s)| auth.has(*s)).map(|(_, e, _)| *e).collect(),
        Some(list) => {
            let mut out = Vec::new();
            for name in list.split(',').map(str::trim) {
                let (_, entity, scope) = TYPES
                    .iter()
                    .find(|(n, _, _)| *n == name)
                    .ok_or_else(|| ApiError::query("types", format!("unknown type '{name}'")))?;
                auth.require(*scope)?;
                out.push(*entity);
            }
            out
        }
    };
    let exclude = q.exclude_source.clone();
    let page =
        crate::db::run(&state.pool, move |conn| feed::read(conn, since, &entity_types, exclude.as_deref(), limit))
            .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_pattern_lists_the_feed_types() {
        let declared = crate::openapi::param_pattern::<ChangesQuery>("types");
        assert_eq!(declared, Some(crate::openapi::comma_list_pattern(TYPES.iter().map(|(n, _, _)| *n))));
    }
}
