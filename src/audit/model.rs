//! Audit entries: what is put on record, and how the log reads back.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::schema::audit_log;

/// One thing to put on record.
pub struct Entry<'a> {
    pub action: &'a str,
    pub allowed: bool,
    pub target: Option<(&'a str, i64)>,
    pub details: serde_json::Value,
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
