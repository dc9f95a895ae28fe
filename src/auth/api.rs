//! `POST /auth/token`: the OAuth 2.0 password and client-credentials grants.

use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::jwt::Subject;
use super::password;
use super::scopes::{Role, ScopeSet};
use crate::db;
use crate::error::ApiError;
use crate::extract::{body_bytes, is_json, media_type, nul_pair, parse_json};
use crate::startup::AppState;
use crate::{api_clients, users};

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(issue_token);
}

/// A token request, form-encoded (`application/x-www-form-urlencoded`) or JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// `password` (users) or `client_credentials` (API clients).
    pub grant_type: String,
    /// The user's email (password grant); `email` is accepted too.
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    /// Client credentials; HTTP Basic authentication is accepted instead.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Space-separated scopes to narrow the token to; default: everything the caller may have.
    pub scope: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// The scopes granted, space-separated.
    pub scope: String,
}

fn oauth(status: StatusCode, error: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::OAuth { status, error, detail: detail.into() }
}

#[utoipa::path(
    tag = "auth",
    operation_id = "issue_token",
    request_body(
        content(
            (TokenRequest = "application/x-www-form-urlencoded"),
            (TokenRequest = "application/json"),
        ),
        description = "OAuth 2.0 token request",
    ),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "`invalid_grant`, `invalid_request`, `invalid_scope` or `unsupported_grant_type`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_client`: unknown or revoked client credentials", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts for this account or address; see Retry-After", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
#[post("/auth/token")]
async fn issue_token(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut payload = payload.into_inner();
    let bytes = body_bytes(&req, &mut payload).await?;
    let mut input: TokenRequest = if is_json(&req) {
        parse_json(&bytes)?
    } else if media_type(&req).as_deref() == Some("application/x-www-form-urlencoded") {
        if let Some(field) = nul_pair(&bytes) {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("{field} must not contain NUL characters"),
            ));
        }
        serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| oauth(StatusCode::BAD_REQUEST, "invalid_request", format!("malformed form body: {e}")))?
    } else {
        return Err(ApiError::UnsupportedMediaType(
            "send application/x-www-form-urlencoded or application/json".into(),
        ));
    };
    if let Some((id, secret)) = basic_credentials(&req) {
        input.client_id.get_or_insert(id);
        input.client_secret.get_or_insert(secret);
    }
    let address = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    let requested = match input.scope.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            ScopeSet::parse_claim(s)
                .map_err(|bad| oauth(StatusCode::BAD_REQUEST, "invalid_scope", format!("unknown scope {bad}")))?,
        ),
    };
    let (subject, allowed) = match input.grant_type.as_str() {
        "password" => password_grant(&state, &input, &address).await?,
        "client_credentials" => client_grant(&state, &input, &address).await?,
        other => {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!("grant_type '{other}' is not supported; use password or client_credentials"),
            ))
        }
    };
    let scopes = match requested {
        Some(r) if !r.is_subset_of(allowed) => {
            return Err(oauth(StatusCode::BAD_REQUEST, "invalid_scope", "a requested scope is not granted to you"))
        }
        Some(r) => r,
        None => allowed,
    };
    let token = state.jwt.issue(&subject, scopes).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(TokenResponse {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: state.jwt.ttl_secs,
        scope: scopes.to_claim(),
    }))
}

fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok().filter(|d| !d.contains('\0'))?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn throttled(state: &AppState, account: &str, address: &str) -> Result<(), ApiError> {
    state.throttle.check(account, address).map_err(|retry_after| ApiError::TooManyRequests {
        detail: "too many failed attempts; try again later".into(),
        retry_after,
    })
}

async fn password_grant(
    state: &web::Data<AppState>,
    input: &TokenRequest,
    address: &str,
) -> Result<(Subject, ScopeSet), ApiError> {
    let email = input
        .username
        .clone()
        .or_else(|| input.email.clone())
        .ok_or_else(|| oauth(StatusCode::BAD_REQUEST, "invalid_request", "username is required"))?;
    let password = input
        .password
        .clone()
        .ok_or_else(|| oauth(StatusCode::BAD_REQUEST, "invalid_request", "password is required"))?;
    throttled(state, &email, address)?;
    let account = email.clone();
    let user = db::run(&state.pool, move |conn| {
        let user = users::repo::find_by_email(conn, &account)?;
        Ok(match user {
            Some(u) if password::verify(&password, &u.password_hash) => Some(u),
            Some(_) => None,
            None => {
                password::burn_time(&password);
                None
            }
        })
    })
    .await?;
    match user {
        Some(u) if u.active => {
            state.throttle.record_success(&email);
            let role = Role::parse(&u.role).unwrap_or(Role::Manager);
            Ok((Subject::User(u.id), role.scopes()))
        }
        _ => {
            state.throttle.record_failure(&email, address);
            Err(oauth(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the email or password is wrong, or the account is deactivated",
            ))
        }
    }
}

async fn client_grant(
    state: &web::Data<AppState>,
    input: &TokenRequest,
    address: &str,
) -> Result<(Subject, ScopeSet), ApiError> {
    let (Some(client_id), Some(secret)) = (input.client_id.clone(), input.client_secret.clone()) else {
        return Err(oauth(StatusCode::BAD_REQUEST, "invalid_request", "client_id and client_secret are required"));
    };
    throttled(state, &client_id, address)?;
    let id = client_id.clone();
    let found = db::run(&state.pool, move |conn| {
        Ok(api_clients::repo::find_by_client_id(conn, &id)?
            .filter(|c| c.revoked_at.is_none() && password::verify(&secret, &c.secret_hash)))
    })
    .await?;
    match found {
        Some(c) => {
            state.throttle.record_success(&client_id);
            Ok((Subject::ApiClient(c.client_id), ScopeSet::parse_claim(&c.scopes).unwrap_or_default()))
        }
        None => {
            state.throttle.record_failure(&client_id, address);
            Err(oauth(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client, wrong secret, or revoked"))
        }
    }
}
