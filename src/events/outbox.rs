//! The transactional outbox: each recorded event becomes a pending delivery for every active
//! webhook subscribed to it, in the transaction of the change. The webhooks domain sends them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{webhook_deliveries, webhooks};
use crate::db::{now, DbConn};

/// Whether an endpoint's subscription list (JSON text) takes `event_type`; `*` takes all.
pub fn subscribes(event_types: &str, event_type: &str) -> bool {
    let types: Vec<String> = serde_json::from_str(event_types).unwrap_or_default();
    types.iter().any(|t| t == "*" || t == event_type)
}

/// The body of a delivery: `{"data", "timestamp", "type"}`, around `data` already serialised
/// (events keep their payload as JSON text, so it is not parsed again for each endpoint).
pub fn envelope(event_type: &str, at: NaiveDateTime, data: &str) -> String {
    let timestamp = serde_json::to_string(&at.and_utc()).unwrap_or_default();
    let event_type = serde_json::to_string(event_type).unwrap_or_default();
    format!(r#"{{"data":{data},"timestamp":{timestamp},"type":{event_type}}}"#)
}

/// A message to put in the outbox.
pub struct Outgoing<'a> {
    pub webhook_id: i64,
    pub message_id: String,
    pub event_type: &'a str,
    pub body: String,
    pub not_before: NaiveDateTime,
}

/// Inserts deliveries with one statement.
pub fn enqueue(conn: &mut DbConn, list: &[Outgoing<'_>]) -> QueryResult<()> {
    if list.is_empty() {
        return Ok(());
    }
    let at = now();
    let rows: Vec<_> = list
        .iter()
        .map(|o| {
            (
                webhook_deliveries::webhook_id.eq(o.webhook_id),
                webhook_deliveries::message_id.eq(&o.message_id),
                webhook_deliveries::event_type.eq(o.event_type),
                webhook_deliveries::payload.eq(&o.body),
                webhook_deliveries::status.eq("pending"),
                webhook_deliveries::attempts.eq(0),
                webhook_deliveries::next_attempt_at.eq(o.not_before),
                webhook_deliveries::created_at.eq(at),
            )
        })
        .collect();
    crate::insert_rows!(conn, webhook_deliveries::table, &rows)?;
    Ok(())
}

/// One recorded event to fan out.
pub struct Recorded<'a> {
    pub message_id: &'a str,
    pub event_type: &'a str,
    /// The event's data, as JSON text.
    pub payload: &'a str,
    pub at: NaiveDateTime,
}

/// Creates a delivery for every active endpoint subscribed to each event (same transaction).
pub fn fan_out(conn: &mut DbConn, events: &[Recorded<'_>]) -> QueryResult<()> {
    let endpoints: Vec<(i64, String)> =
        webhooks::table.filter(webhooks::active.eq(true)).select((webhooks::id, webhooks::event_types)).load(conn)?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let mut out = Vec::new();
    for e in events {
        let body = envelope(e.event_type, e.at, e.payload);
        for (id, _) in endpoints.iter().filter(|(_, types)| subscribes(types, e.event_type)) {
            out.push(Outgoing {
                webhook_id: *id,
                message_id: e.message_id.to_string(),
                event_type: e.event_type,
                body: body.clone(),
                not_before: e.at,
            });
        }
    }
    enqueue(conn, &out)
}
