//! The outbox: one row per message per endpoint, claimed by workers with a lease (and
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL), so that replicas never send a row at the same time
//! and a crashed worker's rows are sent again, with the same `webhook-id`, once its lease ends.

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{envelope, WebhookRow};
use crate::db::schema::{webhook_deliveries, webhooks};
use crate::db::sql::Sql;
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{page_from, Cursor, KeyValue, Page};

pub use crate::events::outbox::{enqueue, fan_out, Outgoing, Recorded};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: i64,
    pub message_id: String,
    pub event_type: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub response_status: Option<i32>,
    pub response_excerpt: Option<String>,
    pub last_error: Option<String>,
    pub duration_ms: Option<i32>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    Delivered,
    /// Given up: retries exhausted, 410 Gone, or a permanent refusal.
    Failed,
}

crate::text_enum!(DeliveryStatus { Pending = "pending", Delivered = "delivered", Failed = "failed" });

/// A delivery as the API shows it (without the body).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    /// The `webhook-id` header, identical on every attempt.
    pub message_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub response_status: Option<i32>,
    /// The first 500 characters of the last response.
    pub response_excerpt: Option<String>,
    pub last_error: Option<String>,
    pub duration_ms: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<DeliveryRow> for Delivery {
    fn from(r: DeliveryRow) -> Delivery {
        Delivery {
            id: r.id,
            webhook_id: r.webhook_id,
            message_id: r.message_id,
            event_type: r.event_type,
            next_attempt_at: (r.status == "pending").then(|| r.next_attempt_at.and_utc()),
            status: r.status,
            attempts: r.attempts,
            last_attempt_at: r.last_attempt_at.map(|t| t.and_utc()),
            response_status: r.response_status,
            response_excerpt: r.response_excerpt,
            last_error: r.last_error,
            duration_ms: r.duration_ms,
            created_at: r.created_at.and_utc(),
            delivered_at: r.delivered_at.map(|t| t.and_utc()),
        }
    }
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Claims up to `limit` due deliveries of active endpoints until `lease_until`.
pub fn claim(conn: &mut DbConn, limit: i64, lease_until: NaiveDateTime) -> QueryResult<Vec<(DeliveryRow, WebhookRow)>> {
    let at = now();
    let mut sql = Sql::new("UPDATE webhook_deliveries SET locked_until = ");
    sql.timestamp(lease_until).push(
        " WHERE id IN (SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
         WHERE d.status = 'pending' AND w.active = TRUE AND d.next_attempt_at <= ",
    );
    sql.timestamp(at).push(" AND (d.locked_until IS NULL OR d.locked_until < ").timestamp(at);
    sql.push(") ORDER BY d.next_attempt_at, d.id LIMIT ").int(limit);
    // Replicas skip the rows another one is claiming instead of waiting for them.
    sql.push(&crate::db::dialect::skip_locked(conn.backend(), "d"));
    sql.push(") RETURNING id");
    let ids: Vec<i64> = sql.query().load::<Claimed>(conn)?.into_iter().map(|c| c.id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    webhook_deliveries::table
        .inner_join(webhooks::table)
        .filter(webhook_deliveries::id.eq_any(&ids))
        .order(webhook_deliveries::id)
        .select((DeliveryRow::as_select(), WebhookRow::as_select()))
        .load(conn)
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Option<u16>,
    pub excerpt: Option<String>,
    pub error: Option<String>,
    pub duration_ms: i32,
    pub retry_after_secs: Option<u64>,
}

/// Records an attempt: delivered on 2xx; on 410 the endpoint is disabled at once; otherwise the
/// next attempt follows the schedule (with ±20% jitter, never sooner than `Retry-After`), and
/// past the schedule the delivery fails and the endpoint is disabled.
pub fn record(conn: &mut DbConn, d: &DeliveryRow, outcome: &Outcome, schedule: &[u64]) -> QueryResult<()> {
    let at = now();
    let attempts = d.attempts + 1;
    let ok = outcome.status.is_some_and(|s| (200..300).contains(&s));
    let gone = outcome.status == Some(410);
    let exhausted = attempts as usize > schedule.len();
    let status = if ok {
        DeliveryStatus::Delivered
    } else if gone || exhausted {
        DeliveryStatus::Failed
    } else {
        DeliveryStatus::Pending
    };
    let next = if status == DeliveryStatus::Pending {
        let base = schedule[(attempts - 1) as usize] as f64;
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        let wait = (base * jitter).max(outcome.retry_after_secs.unwrap_or(0) as f64);
        at + TimeDelta::milliseconds((wait * 1000.0) as i64)
    } else {
        d.next_attempt_at
    };
    diesel::update(webhook_deliveries::table.find(d.id))
        .set((
            webhook_deliveries::status.eq(status.as_str()),
            webhook_deliveries::attempts.eq(attempts),
            webhook_deliveries::next_attempt_at.eq(next),
            webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
            webhook_deliveries::last_attempt_at.eq(Some(at)),
            webhook_deliveries::response_status.eq(outcome.status.map(i32::from)),
            webhook_deliveries::response_excerpt.eq(&outcome.excerpt),
            webhook_deliveries::last_error.eq(&outcome.error),
            webhook_deliveries::duration_ms.eq(Some(outcome.duration_ms)),
            webhook_deliveries::delivered_at.eq(ok.then_some(at)),
        ))
        .execute(conn)?;
    let last = match (&outcome.status, &outcome.error) {
        (Some(s), _) => format!("HTTP {s}"),
        (None, Some(e)) => e.clone(),
        (None, None) => "no response".into(),
    };
    if gone {
        super::disable(conn, d.webhook_id, &format!("the endpoint answered 410 Gone at {}", at.and_utc()))?;
    } else if status == DeliveryStatus::Failed {
        super::disable(conn, d.webhook_id, &format!("delivery {} failed {attempts} times; last: {last}", d.id))?;
    }
    Ok(())
}

#[derive(Debug, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
}

/// Newest first.
pub fn list(
    conn: &mut DbConn,
    webhook_id: i64,
    f: &DeliveryFilter,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<Delivery>, ApiError> {
    super::get(conn, webhook_id)?;
    let mut q = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .select(DeliveryRow::as_select())
        .into_boxed::<Db>();
    if let Some(s) = f.status {
        q = q.filter(webhook_deliveries::status.eq(s.as_str()));
    }
    if let Some(raw) = cursor {
        q = q.filter(webhook_deliveries::id.lt(Cursor::decode(raw, "-id")?.id));
    }
    let rows: Vec<DeliveryRow> = q.order(webhook_deliveries::id.desc()).limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor { sort: "-id".into(), key: KeyValue::Null, id: r.id }).map(Delivery::from))
}

/// Sends a delivery again, with the same `webhook-id`, as soon as a worker can.
pub fn redeliver(conn: &mut DbConn, webhook_id: i64, delivery_id: i64) -> Result<Delivery, ApiError> {
    let endpoint = super::get(conn, webhook_id)?;
    if !endpoint.active {
        return Err(ApiError::Conflict("the endpoint is disabled: enable it first".into()));
    }
    let row: DeliveryRow = diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::id.eq(delivery_id))
            .filter(webhook_deliveries::webhook_id.eq(webhook_id)),
    )
    .set((
        webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()),
        webhook_deliveries::attempts.eq(0),
        webhook_deliveries::next_attempt_at.eq(now()),
        webhook_deliveries::locked_until.eq(None::<NaiveDateTime>),
    ))
    .returning(webhook_deliveries::all_columns)
    .get_result(conn)?;
    crate::db::committed().notify_one();
    Ok(row.into())
}

/// Queues a `webhook.test` ping for one endpoint.
pub fn ping(conn: &mut DbConn, webhook_id: i64) -> Result<Delivery, ApiError> {
    let endpoint = super::get(conn, webhook_id)?;
    let at = now();
    let data = serde_json::json!({ "webhook_id": endpoint.id, "message": "test delivery from clientbase" });
    let message_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    enqueue(
        conn,
        &[Outgoing {
            webhook_id,
            message_id: message_id.clone(),
            event_type: "webhook.test",
            body: envelope("webhook.test", at, &data.to_string()),
            not_before: at,
        }],
    )?;
    let row: DeliveryRow = webhook_deliveries::table
        .filter(webhook_deliveries::message_id.eq(&message_id))
        .select(DeliveryRow::as_select())
        .first(conn)?;
    Ok(row.into())
}
