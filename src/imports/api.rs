//! The import endpoints: upload (multipart or the raw file), settings, preview, run, the
//! errors report and the revert.

use actix_web::http::header;
use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::model::{
    CsvBody, Import, ImportEntity, ImportPatch, ImportState, Preview, RowOutcome, UploadForm, WorkbookBody,
};
use super::repo;
use super::service::{self, Upload};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{parse_query, ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_imports)
        .service(upload_import)
        .service(get_import)
        .service(update_import)
        .service(preview_import)
        .service(run_import)
        .service(import_errors)
        .service(revert_import);
}

pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const RAW_TYPES: &[&str] = &["text/csv", XLSX, "application/octet-stream"];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// What the rows are (default clients); a multipart body may send it as a part instead.
    #[param(inline)]
    pub entity: Option<ImportEntity>,
    /// The worksheet to read (default the first).
    #[param(max_length = 100)]
    pub sheet: Option<String>,
    /// The file's name, for a raw body (a multipart file part carries its own).
    #[param(max_length = 255)]
    pub file_name: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportListQuery {
    #[param(inline)]
    pub state: Option<ImportState>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// Rows after this row number (the `next_after` of the previous page).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Rows shown, 1 to 1000 (default 100); the totals count every row.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// Only rows of this outcome.
    #[param(inline)]
    pub outcome: Option<RowOutcome>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Csv,
    Xlsx,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// csv (default: UTF-8 with BOM, `;`) or xlsx.
    #[param(inline)]
    pub format: Option<ReportFormat>,
}

#[utoipa::path(
    tag = "imports",
    operation_id = "list_imports",
    params(ImportListQuery),
    responses((status = 200, description = "Imports, newest first", body = Page<Import>)),
    security(("oauth2" = ["clients:import"]))
)]
#[get("/imports")]
async fn list_imports(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<ImportListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsImport)?;
    let limit = pagination::limit(q.limit)?;
    let page = db::run(&state.pool, move |conn| repo::list(conn, q.state, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page.map(Import::from_row)))
}

#[utoipa::path(
    tag = "imports",
    operation_id = "upload_import",
    params(UploadQuery),
    request_body(
        content((UploadForm = "multipart/form-data"), (CsvBody = "text/csv"), (WorkbookBody = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
        description = "The spreadsheet, as a form with a `file` part or as the body itself",
    ),
    responses(
        (status = 201, description = "The import, with its columns and the guessed mapping", body = Import, headers(("ETag" = String), ("Location" = String))),
        (status = 413, description = "The file is larger than CLIENTBASE_IMPORT_MAX_BYTES", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither multipart nor a spreadsheet's content type", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["clients:import"]))
)]
#[post("/imports")]
async fn upload_import(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsImport)?;
    let q: UploadQuery = parse_query(req.query_string())?;
    let limit = state.config.import_max_bytes;
    let body = crate::http::upload::read(&req, payload, limit, RAW_TYPES, &["entity", "sheet"]).await?;
    let entity = match body.fields.get("entity") {
        Some(e) => {
            ImportEntity::parse(e).ok_or_else(|| ApiError::field("entity", "must be clients, contacts or sales"))?
        }
        None => q.entity.unwrap_or(ImportEntity::Clients),
    };
    let file_name = body.file_name.or(q.file_name).unwrap_or_else(|| "upload".into());
    let sheet = body.fields.get("sheet").cloned().filter(|s| !s.is_empty()).or(q.sheet);
    let upload = Upload { entity, file_name, sheet, content: body.content };
    let import = db::run(&state.pool, move |conn| service::upload(conn, upload, &auth)).await?;
    Ok(created(&import, format!("/api/v1/imports/{}", import.id), import.id, import.version))
}

#[utoipa::path(
    tag = "imports",
    operation_id = "get_import",
    params(("id" = i64, Path, description = "Import id")),
    responses((status = 200, description = "The import and its progress", body = Import, headers(("ETag" = String)))),
    security(("oauth2" = ["clients:import"]))
)]
#[get("/imports/{id}")]
async fn get_import(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsImport)?;
    let id = id.into_inner();
    let import = Import::from_row(db::run(&state.pool, move |conn| repo::get(conn, id)).await?);
    Ok(ok_tagged(&import, import.id, import.version))
}

#[utoipa::path(
    tag = "imports",
    operation_id = "update_import",
    params(
        ("id" = i64, Path, description = "Import id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the import changed since"),
    ),
    request_body = ImportPatch,
    responses(
        (status = 200, description = "The import", body = Import, headers(("ETag" = String))),
        (status = 409, description = "The import is no longer uploaded", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["clients:import"]))
)]
#[patch("/imports/{id}")]
async fn update_import(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<ImportPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsImport)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let region = state.config.phone_region;
    let import = db::run_tx(&state.pool, move |conn| service::configure(conn, id, expected, patch, region)).await?;
    Ok(ok_tagged(&import, import.id, import.version))
}

#[utoipa::path(
    tag = "imports",
    operation_id = "preview_import",
    params(("id" = i64, Path, description = "Import id"), PreviewQuery),
    responses((status = 200, description = "What a run would do with each row; nothing is written", body = Preview)),
    security(("oauth2" = ["clients:import"]))
)]
#[post("/imports/{id}/preview")]
async fn preview_import(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiQuery(q): ApiQuery<PreviewQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsImport)?;
    let id = id.into_inner();
    let limit = match q.limit {
        None => 100,
        Some(n @ 1..=1000) => n as usize,
        Some(_) => return Err(ApiError::query("limit", "must be from 1 to 1000")),
    };
    let after = match q.after {
        Some(n) if n < 0 => return Err(ApiError::query("after", "cannot be negative")),
        a => a.unwrap_or(0),
    };
    let s = service::Settings::of(&state.config);
    let preview = db::run(&state.pool, move |conn| service::preview(conn, id, after, limit, q.outcome, &s)).await?;
    Ok(HttpResponse::Ok().json(preview))
}

#[utoipa::path(
    tag = "imports",
    operation_id = "run_import",
    params(("id" = i64, Path, description = "Import id")),
    responses(
        (status = 202, description = "Running in the background; follow it with GET", body = Import, headers(("Location" = String))),
        (status = 409, description = "Already running, or finished", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["clients:import"]))
)]
#[post("/imports/{id}/run")]
async fn run_import(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsImport)?;
    let id = id.into_inner();
    let batch_rows = state.config.import_batch;
    let import = db::run(&state.pool, move |conn| service::start(conn, id, &auth, batch_rows)).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/api/v1/imports/{id}")))
        .insert_header((header::ETAG, crate::http::etag(import.id, import.version)))
        .json(import))
}

#[utoipa::path(
    tag = "imports",
    operation_id = "import_errors",
    params(("id" = i64, Path, description = "Import id"), ReportQuery),
    responses((status = 200, description = "The rejected rows as uploaded, with a column of reasons", content((String = "text/csv"), (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))),
    security(("oauth2" = ["clients:import"]))
)]
#[get("/imports/{id}/errors")]
async fn import_errors(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsImport)?;
    let id = id.into_inner();
    let format = q.format.unwrap_or(ReportFormat::Csv);
    let xlsx = matches!(format, ReportFormat::Xlsx);
    let (name, bytes) = db::run(&state.pool, move |conn| service::errors_report(conn, id, xlsx)).await?;
    let (content_type, extension) = match format {
        ReportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ReportFormat::Xlsx => (XLSX, "xlsx"),
    };
    let stem: String = name
        .rsplit_once('.')
        .map_or(name.as_str(), |(s, _)| s)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let stem = if stem.is_empty() { format!("import-{id}") } else { stem };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{stem}-errors.{extension}\"")))
        .body(bytes))
}

#[utoipa::path(
    tag = "imports",
    operation_id = "revert_import",
    params(("id" = i64, Path, description = "Import id")),
    responses(
        (status = 200, description = "Reverted: see `revert` for what was undone and what was left", body = Import, headers(("ETag" = String))),
        (status = 409, description = "The import has not finished", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["clients:import"]))
)]
#[post("/imports/{id}/revert")]
async fn revert_import(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsImport)?;
    let id = id.into_inner();
    let s = service::Settings::of(&state.config);
    let import = db::run(&state.pool, move |conn| service::revert(conn, id, &auth, &s)).await?;
    Ok(ok_tagged(&import, import.id, import.version))
}
