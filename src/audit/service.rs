//! The guards of the base: a scope checked with its refusal put on record, and a guarded change
//! committed together with its `allowed` entry.

use super::model::Entry;
use super::repo::record;
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db::{self, DbConn, Pool};
use crate::error::ApiError;

/// Checks a scope guarding the base (export, deletion, purge); a refusal is put on record
/// before the 403 goes out.
pub async fn require(
    pool: &Pool,
    auth: &Caller,
    scope: Scope,
    action: &'static str,
    target: Option<(&'static str, i64)>,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    if auth.has(scope) {
        return Ok(());
    }
    let who = auth.clone();
    let details = serde_json::json!({ "missing_scope": scope.as_str(), "request": details });
    db::run(pool, move |conn| Ok(record(conn, &who, Entry { action, allowed: false, target, details })?)).await?;
    Err(ApiError::MissingScope(scope.as_str()))
}

/// A guarded change: refused and put on record without `scope`; otherwise `work` runs in one
/// transaction with its `allowed` entry, so that the change and its record commit together.
#[allow(clippy::too_many_arguments)]
pub async fn guarded<T, F>(
    pool: &Pool,
    auth: &Caller,
    scope: Scope,
    action: &'static str,
    target: Option<(&'static str, i64)>,
    details: serde_json::Value,
    work: F,
) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    require(pool, auth, scope, action, target, details.clone()).await?;
    let who = auth.clone();
    db::run_tx(pool, move |conn| {
        let done = work(conn)?;
        record(conn, &who, Entry { action, allowed: true, target, details })?;
        Ok(done)
    })
    .await
}
