//! Handlers for the operations on the base as a whole. Export, merge and purge need their own
//! scopes, and both the operations and the refused attempts go to the audit log.

use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, Entry};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::clients::model::{Client, ClientStatus};
use crate::clients::service::base::{self, DuplicateGroup, Reassign, Reassigned};
use crate::clients::service::export::{self, Delimiter, Format, Options};
use crate::db;
use crate::error::ApiError;
use crate::http::extract::QueryWithCustom;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::pagination::{self, Page};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_duplicates)
        .service(export_clients)
        .service(reassign_clients)
        .service(merge_client)
        .service(purge_client);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DuplicatesQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    tag = "clients",
    operation_id = "list_duplicates",
    params(DuplicatesQuery),
    responses((status = 200, description = "Groups of clients sharing a phone, email, INN or name within a region", body = Page<DuplicateGroup>)),
    security(("oauth2" = ["clients:read"]))
)]
#[get("/clients/duplicates")]
async fn list_duplicates(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<DuplicatesQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsRead)?;
    let limit = pagination::limit(q.limit)?;
    let owner_only = auth.own_clients_only();
    let page = db::run(&state.pool, move |conn| base::duplicates(conn, owner_only, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The client to merge into this one; it becomes a tombstone.
    pub duplicate_id: i64,
}

#[utoipa::path(
    tag = "clients",
    operation_id = "merge_client",
    params(("id" = i64, Path, description = "The surviving client")),
    request_body = MergeRequest,
    responses((status = 200, description = "The survivor, with everything of the duplicate", body = Client)),
    security(("oauth2" = ["clients:write", "clients:delete"]))
)]
#[post("/clients/{id}/merge")]
async fn merge_client(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiJson(input): ApiJson<MergeRequest>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsWrite)?;
    let id = id.into_inner();
    let details = serde_json::json!({ "survivor_id": id, "duplicate_id": input.duplicate_id });
    let target = Some(("client", input.duplicate_id));
    let (owner_only, origin) = (auth.own_clients_only(), auth.origin());
    let merged =
        audit::guarded(&state.pool, &auth, Scope::ClientsDelete, "clients.merge", target, details, move |conn| {
            base::merge(conn, id, input.duplicate_id, owner_only, &origin)
        })
        .await?;
    Ok(HttpResponse::Ok().json(merged))
}

#[utoipa::path(
    tag = "clients",
    operation_id = "reassign_clients",
    request_body = Reassign,
    responses((status = 200, description = "How many clients, open deals and open tasks moved", body = Reassigned)),
    security(("oauth2" = ["clients:write"]))
)]
#[post("/clients/reassign")]
async fn reassign_clients(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<Reassign>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsWrite)?;
    if auth.own_clients_only().is_some() {
        return Err(ApiError::Forbidden("managers cannot hand clients over; a supervisor can".into()));
    }
    let origin = auth.origin();
    let moved = db::run_tx(&state.pool, move |conn| {
        let moved = base::reassign(conn, &input, &origin)?;
        let details = base::reassign_summary(&moved, &input.filter);
        audit::record(
            conn,
            &auth,
            Entry { action: "clients.reassign", allowed: true, target: Some(("user", input.from_user_id)), details },
        )?;
        Ok(moved)
    })
    .await?;
    Ok(HttpResponse::Ok().json(moved))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` (default), `ndjson` or `xlsx` (an Excel workbook with typed cells).
    #[param(inline)]
    pub format: Option<Format>,
    /// CSV separator: `comma` (default) or `semicolon` (what Excel expects in Russian locales).
    #[param(inline)]
    pub delimiter: Option<Delimiter>,
    /// Start the CSV with a UTF-8 byte order mark so that Excel reads Cyrillic right (default true).
    pub bom: Option<bool>,
    pub status: Option<ClientStatus>,
    pub channel: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub owner_id: Option<i64>,
    pub tag: Option<String>,
    /// Case-insensitive search, as in the client list.
    pub q: Option<String>,
    /// Only clients changed at or after this instant.
    pub updated_since: Option<DateTime<Utc>>,
    /// Only cards with this role.
    pub role: Option<crate::clients::model::CounterpartyRole>,
}

#[utoipa::path(
    tag = "clients",
    operation_id = "export_clients",
    params(ExportQuery),
    responses((status = 200, description = "The clients, streamed", content((String = "text/csv"), (String = "application/x-ndjson"), (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))),
    security(("oauth2" = ["clients:export"]))
)]
#[get("/clients/export")]
async fn export_clients(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    QueryWithCustom(q, cf): QueryWithCustom<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = serde_json::json!({ "query": req.query_string() });
    audit::require(&state.pool, &auth, Scope::ClientsExport, "clients.export", None, query.clone()).await?;
    let format = q.format.unwrap_or(Format::Csv);
    let opts = Options {
        format,
        delimiter: if q.delimiter == Some(Delimiter::Semicolon) { b';' } else { b',' },
        bom: q.bom.unwrap_or(true),
    };
    // The list's filters, read the list's way.
    let filter = super::ClientListQuery {
        status: q.status,
        channel: q.channel,
        region: q.region,
        industry: q.industry,
        owner_id: q.owner_id,
        tag: q.tag,
        q: q.q,
        updated_since: q.updated_since,
        role: q.role,
        ..Default::default()
    }
    .filter(&auth, state.config.phone_region);
    let region = state.config.phone_region;
    let custom = db::run(&state.pool, move |conn| {
        crate::custom_fields::service::query_predicates(conn, crate::custom_fields::CustomEntity::Client, &cf, region)
    })
    .await?;
    let filter = crate::clients::repo::ClientFilter { custom, ..filter };
    let body = export::start(state.pool.clone(), auth, filter, opts, req.query_string().to_string()).await?;
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
        Format::Xlsx => ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"clients-{}.{extension}\"", Utc::now().format("%Y%m%d-%H%M%S")),
        ))
        .streaming(body))
}

#[utoipa::path(
    tag = "clients",
    operation_id = "purge_client",
    params(("id" = i64, Path, description = "A deleted client")),
    responses(
        (status = 204, description = "Personal data erased for good; an anonymous tombstone remains"),
        (status = 409, description = "The client is not deleted", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["clients:purge"]))
)]
#[delete("/clients/{id}/purge")]
async fn purge_client(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let origin = auth.origin();
    let target = Some(("client", id));
    audit::guarded(
        &state.pool,
        &auth,
        Scope::ClientsPurge,
        "clients.purge",
        target,
        serde_json::json!({}),
        move |conn| base::purge(conn, id, &origin),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
