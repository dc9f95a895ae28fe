//! The OAuth 2.0 grants: a user's password or an API client's credentials, checked against the
//! login throttle, narrowed to the scopes asked for, signed into a token.

use actix_web::http::StatusCode;
use actix_web::web;

use super::model::TokenRequest;
use crate::auth::jwt::Subject;
use crate::auth::password;
use crate::auth::scopes::{Role, ScopeSet};
use crate::auth::throttle::{login_name, Gate, LOCKED_DELAY};
use crate::db::{self, DbConn};
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

/// Runs one login attempt behind the throttle, in one trip to the database that also records
/// its outcome: `Ok(None)` is a wrong credential, already counted.
async fn guarded<T: Send + 'static>(
    state: &web::Data<AppState>,
    account: String,
    address: &str,
    attempt: impl FnOnce(&mut DbConn) -> Result<Option<T>, ApiError> + Send + 'static,
) -> Result<Option<T>, ApiError> {
    let (address, shared) = (address.to_string(), state.clone());
    let (gate, found) = db::run(&state.pool, move |conn| {
        let throttle = &shared.throttle;
        let gate = throttle.check(conn, &account, &address)?;
        if let Gate::Closed(_) = gate {
            return Ok((gate, None));
        }
        let found = attempt(conn)?;
        match (&found, gate) {
            (None, _) => throttle.record_failure(conn, &account, &address)?,
            (Some(_), Gate::Open) => throttle.record_success(conn, &account)?,
            (Some(_), _) => {}
        }
        Ok((gate, found))
    })
    .await?;
    match gate {
        Gate::Closed(retry_after) => {
            Err(ApiError::TooManyRequests { detail: "too many failed attempts; try again later".into(), retry_after })
        }
        Gate::Slowed => {
            tokio::time::sleep(LOCKED_DELAY).await;
            Ok(found)
        }
        Gate::Open => Ok(found),
    }
}

/// A user's password: the throttle and the account's lookup read one normalised login name.
async fn password_grant(
    state: &web::Data<AppState>,
    input: &TokenRequest,
    address: &str,
) -> Result<(Subject, ScopeSet), ApiError> {
    let raw = input
        .username
        .as_deref()
        .or(input.email.as_deref())
        .ok_or_else(|| oauth(StatusCode::BAD_REQUEST, "invalid_request", "username is required"))?;
    let password = input
        .password
        .clone()
        .ok_or_else(|| oauth(StatusCode::BAD_REQUEST, "invalid_request", "password is required"))?;
    let account = login_name(raw);
    let lookup = account.clone();
    let user = guarded(state, account, address, move |conn| {
        Ok(match users::repo::find_by_email(conn, &lookup)? {
            Some(u) if password::verify(&password, &u.password_hash) && u.active => Some(u),
            Some(_) => None,
            None => {
                password::burn_time(&password);
                None
            }
        })
    })
    .await?;
    match user {
        Some(u) => Ok((Subject::User(u.id), Role::parse(&u.role).unwrap_or(Role::Manager).scopes())),
        None => Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the email or password is wrong, or the account is deactivated",
        )),
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
    let lookup = client_id.clone();
    let found = guarded(state, client_id, address, move |conn| {
        Ok(api_clients::repo::find_by_client_id(conn, &lookup)?
            .filter(|c| c.revoked_at.is_none() && password::verify(&secret, &c.secret_hash)))
    })
    .await?;
    match found {
        Some(c) => Ok((Subject::ApiClient(c.client_id), ScopeSet::parse_claim(&c.scopes).unwrap_or_default())),
        None => Err(oauth(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client, wrong secret, or revoked")),
    }
}
