//! API client queries: create with a hashed secret, find by client id, list, revoke.

use diesel::prelude::*;

use super::{ApiClientRow, NewApiClient};
use crate::auth::password;
use crate::auth::scopes::{integration_grantable, ScopeSet};
use crate::db::schema::api_clients;
use crate::db::{now, DbConn};
use crate::error::ApiError;

/// Creates a client and returns it with its plain secret (the only time it exists in clear).
pub fn create(
    conn: &mut DbConn,
    input: &NewApiClient,
    created_by: Option<i64>,
) -> Result<(ApiClientRow, String), ApiError> {
    let scopes = ScopeSet::of(&input.scopes);
    if !scopes.is_subset_of(integration_grantable()) {
        return Err(ApiError::field("scopes", "users:manage and clients:purge cannot be granted to an API client"));
    }
    let client_id = format!("cb_{}", password::random_token(20).to_lowercase());
    let secret = password::random_token(40);
    let row = diesel::insert_into(api_clients::table)
        .values((
            api_clients::client_id.eq(&client_id),
            api_clients::name.eq(input.name.trim()),
            api_clients::secret_hash.eq(password::hash(&secret).map_err(ApiError::internal)?),
            api_clients::scopes.eq(scopes.to_claim()),
            api_clients::created_by.eq(created_by),
            api_clients::created_at.eq(now()),
        ))
        .returning(api_clients::all_columns)
        .get_result(conn)?;
    Ok((row, secret))
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<ApiClientRow>> {
    api_clients::table.select(api_clients::all_columns).order(api_clients::id.asc()).load(conn)
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<ApiClientRow, ApiError> {
    Ok(api_clients::table.find(id).select(api_clients::all_columns).first(conn)?)
}

pub fn find_by_client_id(conn: &mut DbConn, client_id: &str) -> QueryResult<Option<ApiClientRow>> {
    api_clients::table
        .filter(api_clients::client_id.eq(client_id))
        .select(api_clients::all_columns)
        .first(conn)
        .optional()
}

pub fn revoke(conn: &mut DbConn, id: i64) -> Result<ApiClientRow, ApiError> {
    let row = get(conn, id)?;
    if row.revoked_at.is_some() {
        return Ok(row);
    }
    Ok(diesel::update(api_clients::table.find(id))
        .set(api_clients::revoked_at.eq(now()))
        .returning(api_clients::all_columns)
        .get_result(conn)?)
}
