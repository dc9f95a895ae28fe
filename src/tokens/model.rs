//! The token request and response of the OAuth 2.0 token endpoint.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
