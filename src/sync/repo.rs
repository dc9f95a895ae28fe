//! The change feed: the event log in commit order behind an opaque cursor.
//!
//! On PostgreSQL ids are handed out before commit, so a reader could see event 11 before
//! event 10 commits and skip it for ever. Each event therefore records its transaction id, and
//! the feed is ordered by (transaction id, event id) and stops below the oldest transaction
//! still running: everything before that point is final. SQLite has a single writer, so there
//! ids are already in commit order (the transaction id is 0).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::sql::Sql;
use crate::db::{Backend, DbConn};
use crate::error::{ApiError, FieldError};

/// A position in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Position {
    #[serde(rename = "t")]
    pub txid: i64,
    #[serde(rename = "i")]
    pub id: i64,
}

impl Position {
    pub fn encode(&self) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(raw: &str) -> Result<Position, ApiError> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let bad = || {
            ApiError::BadQuery(vec![FieldError {
                field: "since".into(),
                message: "is not a cursor from this feed".into(),
            }])
        };
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }
}

/// One change to a record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Change {
    /// The event's id in the log.
    pub id: i64,
    /// E.g. `client.updated`, `client.deleted` (a tombstone), `client.merged`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub entity_type: String,
    pub entity_id: i64,
    /// The system the change came from: `api`, a sync source such as `1c`, `telephony`…
    pub source: String,
    pub actor: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// The record as it was after the change (for deletions: its id and when).
    #[schema(value_type = Object)]
    pub data: Box<serde_json::value::RawValue>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    /// Store it and pass it as `since` next time; present even when there is nothing new.
    pub next_cursor: String,
    /// True when more changes wait after this page.
    pub has_more: bool,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    txid: i64,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Text)]
    entity_type: String,
    #[diesel(sql_type = BigInt)]
    entity_id: i64,
    #[diesel(sql_type = Text)]
    source: String,
    #[diesel(sql_type = Nullable<Text>)]
    actor: Option<String>,
    #[diesel(sql_type = Text)]
    payload: String,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
}

#[derive(QueryableByName)]
struct Mark {
    #[diesel(sql_type = Nullable<BigInt>)]
    txid: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
}

/// Appends the "committed and final" condition on `events` rows.
fn push_settled(sql: &mut Sql, backend: Backend) {
    sql.push(crate::db::dialect::settled_events(backend));
}

/// The end of the settled log: every event at or before it is final (the start when empty).
pub fn end(conn: &mut DbConn) -> QueryResult<Position> {
    let mut mark = Sql::new("SELECT txid, id FROM events WHERE 1 = 1");
    push_settled(&mut mark, conn.backend());
    mark.push(" ORDER BY txid DESC, id DESC LIMIT 1");
    Ok(mark
        .query()
        .load::<Mark>(conn)?
        .pop()
        .and_then(|m| m.txid.zip(m.id))
        .map(|(txid, id)| Position { txid, id })
        .unwrap_or_default())
}

/// The changes after `since` of the given entity types, optionally leaving out one source.
pub fn read(
    conn: &mut DbConn,
    since: Position,
    entity_types: &[&str],
    exclude_source: Option<&str>,
    limit: i64,
) -> Result<ChangePage, ApiError> {
    // First the end of the settled log, then the rows up to it: the two reads agree even if
    // transactions commit in between.
    let end = Some(end(conn)?).filter(|e| (e.txid, e.id) > (since.txid, since.id));
    let Some(end) = end else {
        return Ok(ChangePage { changes: Vec::new(), next_cursor: since.encode(), has_more: false });
    };
    let mut sql = Sql::new(
        "SELECT id, txid, event_type, entity_type, entity_id, source, actor, payload, created_at FROM events \
         WHERE (txid > ",
    );
    sql.int(since.txid).push(" OR (txid = ").int(since.txid).push(" AND id > ").int(since.id).push("))");
    sql.push(" AND (txid < ")
        .int(end.txid)
        .push(" OR (txid = ")
        .int(end.txid)
        .push(" AND id <= ")
        .int(end.id)
        .push("))");
    if !entity_types.is_empty() {
        sql.push(" AND entity_type IN (");
        for (i, t) in entity_types.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.text(t);
        }
        sql.push(")");
    }
    if let Some(s) = exclude_source {
        sql.push(" AND source <> ").text(s);
    }
    sql.push(" ORDER BY txid, id LIMIT ").int(limit + 1);
    let mut rows: Vec<Row> = sql.query().load(conn)?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    // A short page has seen everything up to the end, filtered or not: the cursor moves there,
    // so a filtered-out tail is not read again and again.
    let next = match rows.last() {
        Some(last) if has_more => Position { txid: last.txid, id: last.id },
        _ => end,
    };
    let changes = rows
        .into_iter()
        .map(|r| Change {
            id: r.id,
            event_type: r.event_type,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            source: r.source,
            actor: r.actor,
            occurred_at: r.created_at.and_utc(),
            // Stored as JSON text by the event log: passed on as it is.
            data: serde_json::value::RawValue::from_string(r.payload).unwrap_or_default(),
        })
        .collect();
    Ok(ChangePage { changes, next_cursor: next.encode(), has_more })
}
