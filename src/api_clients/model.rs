//! API clients as stored and as the API shows them (the secret only once, at creation), and
//! the input that creates one.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::scopes::{Scope, ScopeSet};
use crate::db::schema::api_clients;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_clients)]
pub struct ApiClientRow {
    pub id: i64,
    pub client_id: String,
    pub name: String,
    pub secret_hash: String,
    pub scopes: String,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// An integration's credentials (without the secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiClient {
    pub id: i64,
    /// The `client_id` of the client-credentials grant.
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiClientRow> for ApiClient {
    fn from(r: ApiClientRow) -> ApiClient {
        ApiClient {
            id: r.id,
            client_id: r.client_id,
            name: r.name,
            scopes: ScopeSet::parse_claim(&r.scopes).unwrap_or_default().iter().collect(),
            created_by: r.created_by,
            created_at: r.created_at.and_utc(),
            revoked_at: r.revoked_at.map(|t| t.and_utc()),
        }
    }
}

/// A new API client with its secret, shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiClientCreated {
    #[serde(flatten)]
    pub client: ApiClient,
    /// Shown once; store it in the integration's configuration.
    pub client_secret: String,
}

/// At least one scope, of those an integration may be granted.
fn grantable_scopes_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let grantable = crate::auth::scopes::integration_grantable().iter().map(Scope::as_str);
    ArrayBuilder::new()
        .description(Some(
            "Scopes the client's tokens may carry; `users:manage` and `clients:purge` cannot be granted.",
        ))
        .items(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(grantable)))
        .min_items(Some(1))
        .build()
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiClient {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Scopes the client's tokens may carry; `users:manage` and `clients:purge` cannot be granted.
    #[validate(length(min = 1))]
    #[schema(schema_with = grantable_scopes_schema)]
    pub scopes: Vec<Scope>,
}
