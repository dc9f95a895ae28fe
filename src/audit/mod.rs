//! The audit log: who exported, deleted, purged, merged or reassigned what, when and from where —
//! and who tried without the right. Append-only: nothing in the API changes or deletes it, and
//! the database refuses updates and deletes too.

pub mod api;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db::schema::audit_log;
use crate::db::{self, now, Db, DbConn, Pool};
use crate::error::ApiError;
use crate::pagination::{page_from, Cursor, KeyValue, Page};

/// One thing to put on record.
pub struct Entry<'a> {
    pub action: &'a str,
    pub allowed: bool,
    pub target: Option<(&'a str, i64)>,
    pub details: serde_json::Value,
}

/// Puts one entry on record, naming the caller and the address they came from.
pub fn record(conn: &mut DbConn, who: &Caller, e: Entry<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::occurred_at.eq(now()),
            audit_log::actor.eq(who.actor()),
            audit_log::action.eq(e.action),
            audit_log::outcome.eq(if e.allowed { "allowed" } else { "denied" }),
            audit_log::target_type.eq(e.target.map(|(t, _)| t)),
            audit_log::target_id.eq(e.target.map(|(_, id)| id)),
            audit_log::address.eq(&who.address),
            audit_log::details.eq(e.details.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

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

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: i64,
    pub occurred_at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub outcome: String,
    pub target_type: Option<String>,
    pub target_id: Option<i64>,
    pub address: Option<String>,
    pub details: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    /// `user:<id>` or `client:<client_id>`.
    pub actor: String,
    /// E.g. `clients.export`, `clients.delete`, `clients.purge`, `clients.merge`, `clients.reassign`.
    pub action: String,
    /// `allowed`, or `denied` for an attempt without the right.
    pub outcome: String,
    pub target_type: Option<String>,
    pub target_id: Option<i64>,
    /// The client address the request came from.
    pub address: Option<String>,
    /// The filter, format, row count and other particulars.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> AuditEntry {
        AuditEntry {
            id: r.id,
            occurred_at: r.occurred_at.and_utc(),
            actor: r.actor,
            action: r.action,
            outcome: r.outcome,
            target_type: r.target_type,
            target_id: r.target_id,
            address: r.address,
            details: serde_json::from_str(&r.details).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// Newest first.
pub fn list(
    conn: &mut DbConn,
    f: &AuditFilter,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<AuditEntry>, ApiError> {
    let mut q = audit_log::table.select(AuditRow::as_select()).into_boxed::<Db>();
    if let Some(v) = &f.actor {
        q = q.filter(audit_log::actor.eq(v.clone()));
    }
    if let Some(v) = &f.action {
        q = q.filter(audit_log::action.eq(v.clone()));
    }
    if let Some(v) = f.from {
        q = q.filter(audit_log::occurred_at.ge(v));
    }
    if let Some(v) = f.to {
        q = q.filter(audit_log::occurred_at.lt(v));
    }
    if let Some(raw) = cursor {
        q = q.filter(audit_log::id.lt(Cursor::decode(raw, "-id")?.id));
    }
    let rows: Vec<AuditRow> = q.order(audit_log::id.desc()).limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor { sort: "-id".into(), key: KeyValue::Null, id: r.id }).map(AuditEntry::from))
}
