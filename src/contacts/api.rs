//! Contact person handlers: a client's contact persons listed and added under the client,
//! read, changed and removed by their own id.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{Contact, ContactPatch, NewContact};
use super::{repo, service};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_contacts)
        .service(create_contact)
        .service(get_contact)
        .service(update_contact)
        .service(delete_contact);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    tag = "clients",
    operation_id = "list_contacts",
    params(("id" = i64, Path, description = "Client id"), ContactListQuery),
    responses((status = 200, description = "The client's contact persons", body = Page<Contact>)),
    security(("oauth2" = ["clients:read"]))
)]
#[get("/clients/{id}/contacts")]
async fn list_contacts(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiQuery(q): ApiQuery<ContactListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsRead)?;
    let limit = pagination::limit(q.limit)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let page = db::run(&state.pool, move |conn| repo::list(conn, id, owner_only, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "clients",
    operation_id = "create_contact",
    params(("id" = i64, Path, description = "Client id")),
    request_body = NewContact,
    responses((status = 201, description = "The contact was added", body = Contact, headers(("ETag" = String), ("Location" = String)))),
    security(("oauth2" = ["clients:write"]))
)]
#[post("/clients/{id}/contacts")]
async fn create_contact(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiJson(input): ApiJson<NewContact>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsWrite)?;
    let (id, region) = (id.into_inner(), state.config.phone_region);
    let contact = db::run_tx(&state.pool, move |conn| service::create(conn, id, input, &auth, region)).await?;
    Ok(created(&contact, format!("/api/v1/contacts/{}", contact.id), contact.id, contact.version))
}

#[utoipa::path(
    tag = "clients",
    operation_id = "get_contact",
    params(("id" = i64, Path, description = "Contact id")),
    responses((status = 200, description = "The contact person", body = Contact, headers(("ETag" = String)))),
    security(("oauth2" = ["clients:read"]))
)]
#[get("/contacts/{id}")]
async fn get_contact(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsRead)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let contact = db::run(&state.pool, move |conn| repo::get(conn, id, owner_only)).await?;
    Ok(ok_tagged(&contact, contact.id, contact.version))
}

#[utoipa::path(
    tag = "clients",
    operation_id = "update_contact",
    params(
        ("id" = i64, Path, description = "Contact id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the contact changed since"),
    ),
    request_body = ContactPatch,
    responses((status = 200, description = "The updated contact", body = Contact, headers(("ETag" = String)))),
    security(("oauth2" = ["clients:write"]))
)]
#[patch("/contacts/{id}")]
async fn update_contact(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<ContactPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsWrite)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let region = state.config.phone_region;
    let contact =
        db::run_tx(&state.pool, move |conn| service::update(conn, id, patch, expected, &auth, region)).await?;
    Ok(ok_tagged(&contact, contact.id, contact.version))
}

#[utoipa::path(
    tag = "clients",
    operation_id = "delete_contact",
    params(
        ("id" = i64, Path, description = "Contact id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the contact changed since"),
    ),
    responses((status = 204, description = "The contact was removed from the card")),
    security(("oauth2" = ["clients:write"]))
)]
#[delete("/contacts/{id}")]
async fn delete_contact(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsWrite)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    db::run_tx(&state.pool, move |conn| service::delete(conn, id, expected, &auth)).await?;
    Ok(HttpResponse::NoContent().finish())
}
