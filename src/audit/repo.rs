//! Writing and reading the audit log (append-only: the database refuses updates and deletes).

use diesel::prelude::*;

use super::model::{AuditEntry, AuditFilter, AuditRow, Entry};
use crate::auth::Caller;
use crate::db::schema::audit_log;
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{page_from, Cursor, KeyValue, Page};

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
