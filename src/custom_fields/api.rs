//! Custom field definition handlers.

use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{CustomEntity, Definition, DefinitionPatch, NewDefinition};
use super::{repo, service};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_fields).service(create_field).service(get_field).service(update_field);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FieldListQuery {
    /// Only the fields of this entity.
    #[param(inline)]
    pub entity: Option<CustomEntity>,
}

#[utoipa::path(
    tag = "custom-fields",
    operation_id = "list_custom_fields",
    params(FieldListQuery),
    responses((status = 200, description = "The definitions, archived ones included, by entity", body = Vec<Definition>)),
    security(("oauth2" = ["clients:read"]))
)]
#[get("/custom-fields")]
async fn list_fields(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<FieldListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsRead)?;
    let list = db::run(&state.pool, move |conn| Ok(repo::list(conn, q.entity)?)).await?;
    Ok(HttpResponse::Ok().json(list))
}

#[utoipa::path(
    tag = "custom-fields",
    operation_id = "create_custom_field",
    request_body = NewDefinition,
    responses(
        (status = 201, description = "The field was defined; values records already held under the key are indexed", body = Definition, headers(("ETag" = String), ("Location" = String))),
        (status = 409, description = "The entity has a field with this key", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["settings:manage"]))
)]
#[post("/custom-fields")]
async fn create_field(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewDefinition>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    let d = db::run_tx(&state.pool, move |conn| service::create(conn, input)).await?;
    Ok(created(&d, format!("/api/v1/custom-fields/{}", d.id), d.id, d.version))
}

#[utoipa::path(
    tag = "custom-fields",
    operation_id = "get_custom_field",
    params(("id" = i64, Path, description = "Definition id")),
    responses((status = 200, description = "The definition", body = Definition, headers(("ETag" = String)))),
    security(("oauth2" = ["clients:read"]))
)]
#[get("/custom-fields/{id}")]
async fn get_field(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsRead)?;
    let id = id.into_inner();
    let d = db::run(&state.pool, move |conn| repo::get(conn, id)).await?;
    Ok(ok_tagged(&d, d.id, d.version))
}

#[utoipa::path(
    tag = "custom-fields",
    operation_id = "update_custom_field",
    params(
        ("id" = i64, Path, description = "Definition id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the definition changed since"),
    ),
    request_body = DefinitionPatch,
    responses((status = 200, description = "The changed definition", body = Definition, headers(("ETag" = String)))),
    security(("oauth2" = ["settings:manage"]))
)]
#[patch("/custom-fields/{id}")]
async fn update_field(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<DefinitionPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let d = db::run_tx(&state.pool, move |conn| service::update(conn, id, patch, expected)).await?;
    Ok(ok_tagged(&d, d.id, d.version))
}
