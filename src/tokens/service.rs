//! The OAuth 2.0 grants: a user's password or an API client's credentials, checked against the
//! login throttle, narrowed to the scopes asked for, signed into a token.

use actix_web::http::StatusCode;
use actix_web::web;

use super::model::TokenRequest;
use crate::auth::jwt::Subject;
use crate::auth::password;
use crate::auth::scopes::{Role, ScopeSet};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{api_clients, users};

pub fn oauth(status: StatusCode, error: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::OAuth { status, error, detail: detail.into() }
}

/// The signed token and the scopes it carries.
pub async fn grant(
    state: &web::Data<AppState>,
    input: &TokenRequest,
    address: &str,
) -> Result<(String, ScopeSet), ApiError> {
    let requested = match input.scope.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            ScopeSet::parse_claim(s)
                .map_err(|bad| oauth(StatusCode::BAD_REQUEST, "invalid_scope", format!("unknown scope {bad}")))?,
        ),
    };
    let (subject, allowed) = match input.grant_type.as_str() {
        "password" => password_grant(state, input, address).await?,
        "client_credentials" => client_grant(state, input, address).await?,
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
    let token = state.auth.jwt.issue(&subject, scopes).map_err(ApiError::internal)?;
    Ok((token, scopes))
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
