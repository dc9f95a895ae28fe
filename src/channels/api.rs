//! Channel handlers.

use actix_web::{get, patch, post, web, HttpResponse};

use super::model::{Channel, ChannelPatch, NewChannel};
use super::repo;
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::{validate, ApiError};
use crate::http::extract::ApiJson;
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_channels).service(create_channel).service(update_channel);
}

#[utoipa::path(
    tag = "channels",
    operation_id = "list_channels",
    responses((status = 200, description = "All channels", body = Vec<Channel>)),
    security(("oauth2" = ["clients:read"]))
)]
#[get("/channels")]
async fn list_channels(state: web::Data<AppState>, auth: Caller) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsRead)?;
    let rows = db::run(&state.pool, |conn| Ok(repo::list(conn)?)).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(Channel::from).collect::<Vec<_>>()))
}

#[utoipa::path(
    tag = "channels",
    operation_id = "create_channel",
    request_body = NewChannel,
    responses(
        (status = 201, description = "The channel was added", body = Channel),
        (status = 409, description = "The code is taken", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["settings:manage"]))
)]
#[post("/channels")]
async fn create_channel(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewChannel>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    validate(&input)?;
    let row = db::run(&state.pool, move |conn| repo::create(conn, &input)).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/channels/{}", row.code)))
        .json(Channel::from(row)))
}

#[utoipa::path(
    tag = "channels",
    operation_id = "update_channel",
    params(("code" = String, Path, description = "Channel code")),
    request_body = ChannelPatch,
    responses((status = 200, description = "The updated channel", body = Channel)),
    security(("oauth2" = ["settings:manage"]))
)]
#[patch("/channels/{code}")]
async fn update_channel(
    state: web::Data<AppState>,
    auth: Caller,
    code: web::Path<String>,
    ApiJson(patch): ApiJson<ChannelPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    validate(&patch)?;
    let code = crate::http::extract::path_key(code.into_inner())?;
    let row = db::run(&state.pool, move |conn| Ok(repo::update(conn, &code, &patch)?)).await?;
    Ok(HttpResponse::Ok().json(Channel::from(row)))
}
