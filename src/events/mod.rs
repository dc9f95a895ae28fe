//! The event log: every change to the base is recorded as an event in the same transaction as
//! the change itself. It is the transactional outbox for webhooks and the source of the sync
//! change feed.

pub mod outbox;

use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::events;
use crate::db::{now, DbConn};
use outbox::{fan_out, Recorded};

pub use crate::auth::caller::Origin;

/// An event about to be recorded.
pub struct NewEvent<'a> {
    pub event_type: &'a str,
    pub entity_type: &'a str,
    pub entity_id: i64,
    pub payload: String,
}

pub fn record(conn: &mut DbConn, origin: &Origin, event: NewEvent<'_>) -> QueryResult<()> {
    record_many(conn, origin, vec![event])
}

/// Records several events with one statement, and queues them for the webhooks that
/// subscribe to them — in the caller's transaction, so either both happen or neither.
pub fn record_many(conn: &mut DbConn, origin: &Origin, list: Vec<NewEvent<'_>>) -> QueryResult<()> {
    if list.is_empty() {
        return Ok(());
    }
    let at = now();
    let message_ids: Vec<String> = list.iter().map(|_| format!("msg_{}", uuid::Uuid::new_v4().simple())).collect();
    let rows: Vec<_> = list
        .iter()
        .zip(&message_ids)
        .map(|(e, message_id)| {
            (
                events::event_type.eq(e.event_type),
                events::entity_type.eq(e.entity_type),
                events::entity_id.eq(e.entity_id),
                events::source.eq(&origin.source),
                events::actor.eq(origin.actor.as_deref()),
                events::payload.eq(&e.payload),
                events::created_at.eq(at),
                events::message_id.eq(Some(message_id.as_str())),
            )
        })
        .collect();
    crate::insert_rows!(conn, events::table, &rows)?;
    let recorded: Vec<Recorded<'_>> = list
        .iter()
        .zip(&message_ids)
        .map(|(e, id)| Recorded { message_id: id, event_type: e.event_type, payload: &e.payload, at })
        .collect();
    fan_out(conn, &recorded)
}

/// Serialises an entity for an event payload.
pub fn payload(entity: &impl Serialize) -> String {
    serde_json::to_string(entity).unwrap_or_else(|_| "null".into())
}

/// An entity's payload with the fields of `extra` beside its own (when `extra` is an object).
pub fn payload_with(entity: &impl Serialize, extra: serde_json::Value) -> String {
    let mut value = serde_json::to_value(entity).unwrap_or_default();
    if let (serde_json::Value::Object(map), serde_json::Value::Object(extra)) = (&mut value, extra) {
        map.extend(extra);
    }
    value.to_string()
}
