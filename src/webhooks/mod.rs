//! Outbound webhooks. Events recorded in the event log are fanned out, in the same transaction,
//! into deliveries for every active endpoint that subscribes to them (the transactional
//! outbox); the worker in every replica claims and sends them, signed per Standard Webhooks.

pub mod api;
pub mod deliveries;
pub mod signing;
pub mod worker;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::webhooks;
use crate::db::{now, DbConn};
use crate::error::{ApiError, FieldErrors};

pub use crate::events::outbox::envelope;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub description: Option<String>,
    pub event_types: String,
    pub mailing_provider: bool,
    pub active: bool,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub disabled_reason: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl WebhookRow {
    /// Secrets a message is signed with: the current one and, during the grace period after a
    /// rotation, the previous one.
    pub fn signing_secrets(&self, at: NaiveDateTime) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(prev), Some(until)) = (&self.previous_secret, self.previous_secret_until) {
            if until > at {
                secrets.push(prev);
            }
        }
        secrets
    }

    pub fn subscribes(&self, event_type: &str) -> bool {
        crate::events::outbox::subscribes(&self.event_types, event_type)
    }
}

/// An endpoint that receives events (and, for a mailing provider, campaign batches).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    pub id: i64,
    /// Unique; campaigns name their provider by it.
    pub name: String,
    pub url: String,
    pub description: Option<String>,
    /// Event types delivered, or `["*"]` for all.
    pub event_types: Vec<String>,
    /// Whether campaigns may send through it.
    pub mailing_provider: bool,
    pub active: bool,
    /// Why it was disabled (410 Gone, or failures past the retry schedule).
    pub disabled_reason: Option<String>,
    /// Until when the secret replaced by the last rotation still signs messages.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<WebhookRow> for Webhook {
    fn from(r: WebhookRow) -> Webhook {
        Webhook {
            id: r.id,
            name: r.name,
            url: r.url,
            description: r.description,
            event_types: serde_json::from_str(&r.event_types).unwrap_or_default(),
            mailing_provider: r.mailing_provider,
            active: r.active,
            disabled_reason: r.disabled_reason,
            previous_secret_valid_until: r.previous_secret_until.filter(|u| *u > now()).map(|t| t.and_utc()),
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// An endpoint with its signing secret, shown only when created or rotated.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_…`: verify `webhook-signature` with it.
    pub secret: String,
}

/// Every event type the base emits (and `*` for all of them).
pub const EVENT_TYPES: &[&str] = &[
    "client.created",
    "client.updated",
    "client.deleted",
    "client.restored",
    "client.merged",
    "client.purged",
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "deal.created",
    "deal.updated",
    "deal.deleted",
    "deal.stage_changed",
    "deal.won",
    "deal.lost",
    "activity.created",
    "activity.updated",
    "activity.deleted",
    "task.created",
    "task.updated",
    "task.completed",
    "task.deleted",
    "sale.created",
    "sale.updated",
    "sale.deleted",
    "campaign.launched",
    "campaign.recipient_status_changed",
];

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// An http(s) URL on a public address.
    pub url: String,
    pub description: Option<String>,
    /// Event types to deliver; `["*"]` (the default) for all.
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub mailing_provider: bool,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub mailing_provider: Option<bool>,
    /// Re-enabling clears `disabled_reason`; pending deliveries resume.
    pub active: Option<bool>,
}

fn check_fields(name: Option<&str>, event_types: Option<&[String]>, errors: &mut FieldErrors) {
    if let Some(name) = name {
        let ok =
            (1..=100).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        errors.check(ok, "name", "use 1 to 100 letters, digits, _, - or .");
    }
    if let Some(types) = event_types {
        errors.check(!types.is_empty(), "event_types", "list at least one event type or *");
        for (i, t) in types.iter().enumerate() {
            errors.check(
                t == "*" || EVENT_TYPES.contains(&t.as_str()),
                format_args!("event_types[{i}]"),
                format_args!("'{t}' is not an event type"),
            );
        }
    }
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<WebhookRow, ApiError> {
    Ok(webhooks::table.find(id).select(WebhookRow::as_select()).first(conn)?)
}

pub fn by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<WebhookRow>> {
    webhooks::table.filter(webhooks::name.eq(name)).select(WebhookRow::as_select()).first(conn).optional()
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<WebhookRow>> {
    webhooks::table.order(webhooks::id).select(WebhookRow::as_select()).load(conn)
}

/// Creates an endpoint (its URL already checked by the caller, which has to resolve it).
pub fn create(conn: &mut DbConn, input: NewWebhook, url_error: Option<String>) -> Result<WebhookWithSecret, ApiError> {
    let mut errors = FieldErrors::new();
    check_fields(Some(&input.name), input.event_types.as_deref(), &mut errors);
    if let Some(e) = url_error {
        errors.add("url", e);
    }
    errors.into_result()?;
    let secret = signing::new_secret();
    let at = now();
    let row: WebhookRow = diesel::insert_into(webhooks::table)
        .values((
            webhooks::name.eq(&input.name),
            webhooks::url.eq(&input.url),
            webhooks::description.eq(&input.description),
            webhooks::event_types
                .eq(serde_json::to_string(&input.event_types.unwrap_or_else(|| vec!["*".into()])).unwrap_or_default()),
            webhooks::mailing_provider.eq(input.mailing_provider),
            webhooks::active.eq(true),
            webhooks::secret.eq(&secret),
            webhooks::version.eq(1i64),
            webhooks::created_at.eq(at),
            webhooks::updated_at.eq(at),
        ))
        .returning(webhooks::all_columns)
        .get_result(conn)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict(format!("a webhook named '{}' exists already", input.name)),
            other => other,
        })?;
    Ok(WebhookWithSecret { webhook: row.into(), secret })
}

#[derive(AsChangeset)]
#[diesel(table_name = webhooks)]
struct WebhookChanges {
    url: Option<String>,
    description: Option<String>,
    event_types: Option<String>,
    mailing_provider: Option<bool>,
    active: Option<bool>,
    disabled_reason: Option<Option<String>>,
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: WebhookPatch,
    url_error: Option<String>,
    expected: Option<i64>,
) -> Result<Webhook, ApiError> {
    let current = get(conn, id)?;
    crate::versioning::expect(expected, current.version)?;
    let mut errors = FieldErrors::new();
    check_fields(None, patch.event_types.as_deref(), &mut errors);
    if let Some(e) = url_error {
        errors.add("url", e);
    }
    errors.into_result()?;
    let changes = WebhookChanges {
        url: patch.url,
        description: patch.description,
        event_types: patch.event_types.map(|t| serde_json::to_string(&t).unwrap_or_default()),
        mailing_provider: patch.mailing_provider,
        active: patch.active,
        disabled_reason: patch.active.filter(|a| *a).map(|_| None),
    };
    let row: WebhookRow = diesel::update(webhooks::table.find(id))
        .set((changes, webhooks::version.eq(current.version + 1), webhooks::updated_at.eq(now())))
        .returning(webhooks::all_columns)
        .get_result(conn)?;
    Ok(row.into())
}

/// A new secret; the old one keeps signing for `grace_hours` so receivers can switch over.
pub fn rotate(conn: &mut DbConn, id: i64, grace_hours: i64) -> Result<WebhookWithSecret, ApiError> {
    let current = get(conn, id)?;
    let secret = signing::new_secret();
    let at = now();
    let row: WebhookRow = diesel::update(webhooks::table.find(id))
        .set((
            webhooks::secret.eq(&secret),
            webhooks::previous_secret.eq(Some(current.secret)),
            webhooks::previous_secret_until.eq(Some(at + chrono::TimeDelta::hours(grace_hours))),
            webhooks::version.eq(current.version + 1),
            webhooks::updated_at.eq(at),
        ))
        .returning(webhooks::all_columns)
        .get_result(conn)?;
    Ok(WebhookWithSecret { webhook: row.into(), secret })
}

pub fn delete(conn: &mut DbConn, id: i64) -> Result<(), ApiError> {
    if diesel::delete(webhooks::table.find(id)).execute(conn)? == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// Disables an endpoint, saying why; its pending deliveries wait until it is enabled again.
pub fn disable(conn: &mut DbConn, id: i64, reason: &str) -> QueryResult<usize> {
    diesel::update(webhooks::table.find(id))
        .set((webhooks::active.eq(false), webhooks::disabled_reason.eq(Some(reason)), webhooks::updated_at.eq(now())))
        .execute(conn)
}
