//! The telephony endpoints: the screen pop by number and the PBX's call events.

use actix_web::{get, post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{CallEvent, CallLogged, Lookup};
use super::{repo, service};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::normalize::phone::normalize_phone;
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(lookup).service(log_call);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// The number in any usual format: `8 (4852) 12-34-56`, `+74852123456`, `74852123456`.
    /// At least five digits.
    #[param(pattern = "[0-9]([^0-9]*[0-9]){4}")]
    pub phone: String,
}

#[utoipa::path(
    tag = "integrations",
    operation_id = "telephony_lookup",
    params(LookupQuery),
    responses((status = 200, description = "Who owns the number: client, contact person, owner, open deals and tasks", body = Lookup)),
    security(("oauth2" = ["telephony:write"]), ("oauth2" = ["clients:read"]))
)]
#[get("/telephony/lookup")]
async fn lookup(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> Result<HttpResponse, ApiError> {
    if !auth.has(Scope::TelephonyWrite) {
        auth.require(Scope::ClientsRead)?;
    }
    let e164 = normalize_phone(&q.phone, state.config.phone_region).map_err(|m| ApiError::query("phone", m))?;
    let owner_only = auth.own_clients_only();
    let found = db::run(&state.pool, move |conn| repo::lookup(conn, &e164, owner_only)).await?;
    Ok(HttpResponse::Ok().json(found))
}

#[utoipa::path(
    tag = "integrations",
    operation_id = "telephony_call",
    request_body = CallEvent,
    responses((status = 200, description = "The call is logged on the client (an unknown caller became a potential client)", body = CallLogged)),
    security(("oauth2" = ["telephony:write"]))
)]
#[post("/telephony/calls")]
async fn log_call(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(event): ApiJson<CallEvent>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::TelephonyWrite)?;
    let region = state.config.phone_region;
    let retry = event.clone();
    // Two events of one call racing both try to create its activity; the loser sees the
    // winner's on a second pass.
    let logged = match db::run_tx(&state.pool, move |conn| service::log_call(conn, event, region)).await {
        Err(ApiError::Conflict(_)) => {
            db::run_tx(&state.pool, move |conn| service::log_call(conn, retry, region)).await?
        }
        other => other?,
    };
    Ok(HttpResponse::Ok().json(logged))
}
