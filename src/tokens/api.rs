//! `POST /auth/token`: reads the request (form or JSON, HTTP Basic client credentials) and
//! answers with the token the grant gives.

use actix_web::http::{header, StatusCode};
use actix_web::{post, web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::model::{TokenRequest, TokenResponse};
use super::service::{self, oauth};
use crate::error::ApiError;
use crate::http::extract::{body_bytes, is_json, media_type, nul_pair, parse_json};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(issue_token);
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
    let (token, scopes) = service::grant(&state, &input, &address).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(TokenResponse {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: state.auth.jwt.ttl_secs,
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
