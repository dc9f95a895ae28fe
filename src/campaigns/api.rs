//! The campaign endpoints: drafts, their launch, recipients and stats, and the mailing
//! provider's signed status callbacks.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{
    CallbackResult, Campaign, CampaignPatch, CampaignStats, NewCampaign, ProviderEvents, Recipient, RecipientStatus,
};
use super::{repo, service};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{body_bytes, json_body, ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page};
use crate::state::AppState;
use crate::webhooks::signing;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_campaigns)
        .service(create_campaign)
        .service(get_campaign)
        .service(update_campaign)
        .service(delete_campaign)
        .service(launch_campaign)
        .service(campaign_recipients)
        .service(campaign_stats)
        .service(provider_events);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CampaignListQuery {
    /// Page size, 1 to 200 (default 50). Newest first.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    tag = "campaigns",
    operation_id = "list_campaigns",
    params(CampaignListQuery),
    responses((status = 200, description = "Campaigns, newest first", body = Page<Campaign>)),
    security(("oauth2" = ["campaigns:read"]))
)]
#[get("/campaigns")]
async fn list_campaigns(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<CampaignListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::CampaignsRead)?;
    let limit = pagination::limit(q.limit)?;
    let owner_only = auth.own_clients_only();
    let page = db::run(&state.pool, move |conn| repo::list(conn, q.cursor.as_deref(), limit, owner_only)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "campaigns",
    operation_id = "create_campaign",
    request_body = NewCampaign,
    responses((status = 201, description = "The draft campaign", body = Campaign, headers(("ETag" = String), ("Location" = String)))),
    security(("oauth2" = ["campaigns:write"]))
)]
#[post("/campaigns")]
async fn create_campaign(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewCampaign>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::CampaignsWrite)?;
    let c = db::run_tx(&state.pool, move |conn| service::create(conn, input, &auth)).await?;
    Ok(created(&c, format!("/api/v1/campaigns/{}", c.id), c.id, c.version))
}

#[utoipa::path(
    tag = "campaigns",
    operation_id = "get_campaign",
    params(("id" = i64, Path, description = "Campaign id")),
    responses((status = 200, description = "The campaign", body = Campaign, headers(("ETag" = String)))),
    security(("oauth2" = ["campaigns:read"]))
)]
#[get("/campaigns/{id}")]
async fn get_campaign(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::CampaignsRead)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let c = db::run(&state.pool, move |conn| repo::get_visible(conn, id, owner_only)).await?;
    Ok(ok_tagged(&c, c.id, c.version))
}

#[utoipa::path(
    tag = "campaigns",
    operation_id = "update_campaign",
    params(
        ("id" = i64, Path, description = "Campaign id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the campaign changed since"),
    ),
    request_body = CampaignPatch,
    responses(
        (status = 200, description = "The campaign", body = Campaign, headers(("ETag" = String))),
        (status = 409, description = "Launched campaigns do not change", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["campaigns:write"]))
)]
#[patch("/campaigns/{id}")]
async fn update_campaign(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<CampaignPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::CampaignsWrite)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let c = db::run_tx(&state.pool, move |conn| service::update(conn, id, patch, expected)).await?;
    Ok(ok_tagged(&c, c.id, c.version))
}

#[utoipa::path(
    tag = "campaigns",
    operation_id = "delete_campaign",
    params(("id" = i64, Path, description = "Campaign id")),
    responses(
        (status = 204, description = "The draft is deleted"),
        (status = 409, description = "Launched campaigns stay on record", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["campaigns:write"]))
)]
#[delete("/campaigns/{id}")]
async fn delete_campaign(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::CampaignsWrite)?;
    let id = id.into_inner();
    db::run_tx(&state.pool, move |conn| service::delete(conn, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LaunchQuery {
    /// Recipients per delivery to the provider, 1 to 1000 (default 500).
    #[param(minimum = 1, maximum = 1000)]
    pub batch_size: Option<usize>,
}

#[utoipa::path(
    tag = "campaigns",
    operation_id = "launch_campaign",
    params(("id" = i64, Path, description = "Campaign id"), LaunchQuery),
    responses(
        (status = 200, description = "Launched: recipients snapshotted and queued to the provider", body = Campaign),
        (status = 409, description = "Launched already; nothing is sent twice", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["campaigns:send"]))
)]
#[post("/campaigns/{id}/launch")]
async fn launch_campaign(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiQuery(q): ApiQuery<LaunchQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::CampaignsSend)?;
    let batch_size = q.batch_size.unwrap_or(500);
    if !(1..=1000).contains(&batch_size) {
        return Err(ApiError::query("batch_size", "must be between 1 and 1000"));
    }
    let id = id.into_inner();
    let c = db::run_tx(&state.pool, move |conn| service::launch(conn, id, batch_size, &auth)).await?;
    Ok(HttpResponse::Ok().json(c))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecipientQuery {
    pub status: Option<RecipientStatus>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    tag = "campaigns",
    operation_id = "campaign_recipients",
    params(("id" = i64, Path, description = "Campaign id"), RecipientQuery),
    responses((status = 200, description = "The recipients and their status", body = Page<Recipient>)),
    security(("oauth2" = ["campaigns:read"]))
)]
#[get("/campaigns/{id}/recipients")]
async fn campaign_recipients(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
    ApiQuery(q): ApiQuery<RecipientQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::CampaignsRead)?;
    let limit = pagination::limit(q.limit)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let page =
        db::run(&state.pool, move |conn| repo::recipients(conn, id, q.status, q.cursor.as_deref(), limit, owner_only))
            .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "campaigns",
    operation_id = "campaign_stats",
    params(("id" = i64, Path, description = "Campaign id")),
    responses((status = 200, description = "Counts per status and rates", body = CampaignStats)),
    security(("oauth2" = ["campaigns:read"]))
)]
#[get("/campaigns/{id}/stats")]
async fn campaign_stats(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::CampaignsRead)?;
    let id = id.into_inner();
    let stats = db::run(&state.pool, move |conn| service::stats(conn, id)).await?;
    Ok(HttpResponse::Ok().json(stats))
}

/// Messages older or newer than this many seconds are refused.
const TOLERANCE_SECS: i64 = 300;

fn header<'a>(req: &'a HttpRequest, name: &str) -> Result<&'a str, ApiError> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::Unauthorized(format!("the {name} header is required: sign the message")))
}

#[utoipa::path(
    tag = "campaigns",
    operation_id = "provider_events",
    params(
        ("name" = String, Path, description = "The provider webhook's name"),
        ("webhook-id" = String, Header, description = "Unique message id; repeats are acknowledged and ignored"),
        ("webhook-timestamp" = String, Header, description = "Unix seconds; at most 5 minutes off"),
        ("webhook-signature" = String, Header, description = "`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` with the endpoint's secret"),
    ),
    request_body = ProviderEvents,
    responses(
        (status = 200, description = "Applied (or recognised as a repeat)", body = CallbackResult),
        (status = 401, description = "Unsigned, stale or wrongly signed", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
#[post("/providers/{name}/events")]
async fn provider_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let name = crate::http::extract::path_key(name.into_inner())?;
    let mut payload = payload.into_inner();
    let body = body_bytes(&req, &mut payload).await?;
    let provider = {
        let name = name.clone();
        db::run(&state.pool, move |conn| Ok(crate::webhooks::by_name(conn, &name)?)).await?
    }
    .filter(|w| w.mailing_provider)
    .ok_or(ApiError::NotFound)?;
    let (id, timestamp, signature) =
        (header(&req, "webhook-id")?, header(&req, "webhook-timestamp")?, header(&req, "webhook-signature")?);
    let secrets = provider.signing_secrets(crate::db::now());
    signing::verify(&secrets, id, timestamp, signature, &body, chrono::Utc::now().timestamp(), TOLERANCE_SECS)
        .map_err(|reason| ApiError::Unauthorized(format!("signature check failed: {reason}")))?;
    let input: ProviderEvents = json_body(&req, &body)?;
    let message_id = id.to_string();
    let result =
        db::run_tx(&state.pool, move |conn| service::apply_provider_events(conn, &provider, &message_id, input))
            .await?;
    Ok(HttpResponse::Ok().json(result))
}
