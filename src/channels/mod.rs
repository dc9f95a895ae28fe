//! Sales channels: the configurable reference list every client and every analysis is cut by.

use actix_web::{get, patch, post, web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::scopes::Scope;
use crate::auth::AuthContext;
use crate::db::schema::channels;
use crate::db::{self, now, DbConn};
use crate::error::{validate, ApiError};
use crate::extract::ApiJson;
use crate::startup::AppState;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = channels)]
pub struct ChannelRow {
    pub code: String,
    pub name: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
}

/// A sales channel (retail, chain, online store, wholesale, B2C, B2G…).
#[derive(Debug, Serialize, ToSchema)]
pub struct Channel {
    /// Stable code clients refer to.
    pub code: String,
    pub name: String,
    /// Inactive channels stay on existing clients but cannot be given to new ones.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<ChannelRow> for Channel {
    fn from(r: ChannelRow) -> Channel {
        Channel { code: r.code, name: r.name, active: r.active, created_at: r.created_at.and_utc() }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// Lowercase letters, digits and `_`.
    #[validate(length(min = 1, max = 50), custom(function = "valid_code"))]
    pub code: String,
    #[validate(length(min = 1, max = 200))]
    pub name: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    #[validate(length(min = 1, max = 200))]
    pub name: Option<String>,
    pub active: Option<bool>,
}

fn valid_code(code: &str) -> Result<(), validator::ValidationError> {
    if code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        Ok(())
    } else {
        Err(validator::ValidationError::new("code").with_message("use lowercase latin letters, digits and _".into()))
    }
}

/// Whether `code` names an active channel (for client validation).
pub fn is_active(conn: &mut DbConn, code: &str) -> QueryResult<bool> {
    channels::table
        .filter(channels::code.eq(code))
        .filter(channels::active.eq(true))
        .count()
        .get_result::<i64>(conn)
        .map(|n| n > 0)
}

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
async fn list_channels(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::ClientsRead)?;
    let rows: Vec<ChannelRow> = db::run(&state.pool, |conn| {
        Ok(channels::table.select(ChannelRow::as_select()).order(channels::code).load(conn)?)
    })
    .await?;
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
    auth: AuthContext,
    ApiJson(input): ApiJson<NewChannel>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    validate(&input)?;
    let row: ChannelRow = db::run(&state.pool, move |conn| {
        diesel::insert_into(channels::table)
            .values((
                channels::code.eq(&input.code),
                channels::name.eq(input.name.trim()),
                channels::active.eq(true),
                channels::created_at.eq(now()),
            ))
            .returning(channels::all_columns)
            .get_result(conn)
            .map_err(|e| match ApiError::from(e) {
                ApiError::Conflict(_) => ApiError::Conflict(format!("channel '{}' already exists", input.code)),
                other => other,
            })
    })
    .await?;
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
    auth: AuthContext,
    code: web::Path<String>,
    ApiJson(patch): ApiJson<ChannelPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::SettingsManage)?;
    validate(&patch)?;
    let code = crate::extract::path_key(code.into_inner())?;
    let row: ChannelRow = db::run(&state.pool, move |conn| {
        let target = channels::table.filter(channels::code.eq(&code));
        if let Some(name) = &patch.name {
            diesel::update(target).set(channels::name.eq(name.trim())).execute(conn)?;
        }
        if let Some(active) = patch.active {
            diesel::update(target).set(channels::active.eq(active)).execute(conn)?;
        }
        Ok(target.select(ChannelRow::as_select()).first(conn)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Channel::from(row)))
}
