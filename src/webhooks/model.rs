//! Webhook endpoints as stored and as the API shows them, their inputs, the event types one
//! can subscribe to, and the checks of a name and a subscription list.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::now;
use crate::db::schema::webhooks;
use crate::error::FieldErrors;

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
    "client.status_changed",
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
    "call.missed",
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
    /// Letters, digits, `_`, `-` and `.`.
    #[schema(min_length = 1, max_length = 100, pattern = "^[A-Za-z0-9_.-]+$")]
    pub name: String,
    #[schema(schema_with = url_schema)]
    pub url: String,
    pub description: Option<String>,
    #[schema(schema_with = subscription_schema)]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub mailing_provider: bool,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    #[schema(schema_with = url_schema)]
    pub url: Option<String>,
    pub description: Option<String>,
    #[schema(schema_with = subscription_schema)]
    pub event_types: Option<Vec<String>>,
    pub mailing_provider: Option<bool>,
    /// Re-enabling clears `disabled_reason`; pending deliveries resume.
    pub active: Option<bool>,
}

/// A webhook's `url`, as [`crate::http::ssrf::URL_PATTERN`] declares it.
fn url_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("An http(s) URL on a public address."))
        .pattern(Some(crate::http::ssrf::URL_PATTERN))
        .build()
}

/// The `event_types` of a webhook, as [`check_fields`] takes them: at least one of `*`, an
/// event type of [`EVENT_TYPES`] and `automation.<name>` (the types automations emit).
fn subscription_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let known = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(std::iter::once("*").chain(EVENT_TYPES.iter().copied())));
    let emitted = ObjectBuilder::new().schema_type(Type::String).pattern(Some(r"^automation\."));
    ArrayBuilder::new()
        .description(Some("Event types to deliver; `[\"*\"]` (the default) for all."))
        .items(OneOfBuilder::new().item(known).item(emitted))
        .min_items(Some(1))
        .build()
}

pub fn check_fields(name: Option<&str>, event_types: Option<&[String]>, errors: &mut FieldErrors) {
    if let Some(name) = name {
        let ok =
            (1..=100).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
        errors.check(ok, "name", "use 1 to 100 letters, digits, _, - or .");
    }
    if let Some(types) = event_types {
        errors.check(!types.is_empty(), "event_types", "list at least one event type or *");
        for (i, t) in types.iter().enumerate() {
            // `automation.*` types are the ones automations emit, named by whoever sets them up.
            errors.check(
                t == "*" || EVENT_TYPES.contains(&t.as_str()) || t.starts_with("automation."),
                format_args!("event_types[{i}]"),
                format_args!("'{t}' is not an event type"),
            );
        }
    }
}
