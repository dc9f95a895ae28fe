//! Activities as stored and as the API reads and writes them: the row, the activity, its type
//! and direction, the create and change bodies, the list filter, and the validated values
//! written with the rules they keep on their own.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::activities;
use crate::error::FieldErrors;
use crate::patch::double_option;

pub const ENTITY: &str = "activity";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = activities)]
pub struct ActivityRow {
    pub id: i64,
    pub activity_type: String,
    pub direction: Option<String>,
    pub occurred_at: NaiveDateTime,
    pub duration_seconds: Option<i32>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub outcome: Option<String>,
    pub client_id: i64,
    pub contact_id: Option<i64>,
    pub deal_id: Option<i64>,
    pub author_id: Option<i64>,
    pub external_ref: Option<String>,
    pub recording_url: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActivityType {
    Call,
    Meeting,
    Email,
    Message,
    Note,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

crate::text_enum!(ActivityType {
    Call = "call",
    Meeting = "meeting",
    Email = "email",
    Message = "message",
    Note = "note",
} else Note);

impl ActivityType {
    /// Calls, emails and messages go one way or the other; meetings and notes do not.
    pub(super) fn has_direction(self) -> bool {
        matches!(self, ActivityType::Call | ActivityType::Email | ActivityType::Message)
    }
}

crate::text_enum!(Direction { Inbound = "inbound", Outbound = "outbound" });

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Activity {
    pub id: i64,
    #[serde(rename = "type")]
    pub activity_type: ActivityType,
    pub direction: Option<Direction>,
    pub occurred_at: DateTime<Utc>,
    pub duration_seconds: Option<i32>,
    pub subject: Option<String>,
    pub body: Option<String>,
    /// What came of it, e.g. `interested`, `call back in May`.
    pub outcome: Option<String>,
    pub client_id: i64,
    pub contact_id: Option<i64>,
    pub deal_id: Option<i64>,
    /// The user who logged it (null when an integration did).
    pub author_id: Option<i64>,
    /// An id in another system, e.g. the PBX call id.
    pub external_ref: Option<String>,
    pub recording_url: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ActivityRow> for Activity {
    fn from(r: ActivityRow) -> Activity {
        Activity {
            id: r.id,
            activity_type: ActivityType::parse(&r.activity_type),
            direction: r.direction.as_deref().and_then(Direction::parse),
            occurred_at: r.occurred_at.and_utc(),
            duration_seconds: r.duration_seconds,
            subject: r.subject,
            body: r.body,
            outcome: r.outcome,
            client_id: r.client_id,
            contact_id: r.contact_id,
            deal_id: r.deal_id,
            author_id: r.author_id,
            external_ref: r.external_ref,
            recording_url: r.recording_url,
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewActivity {
    #[serde(rename = "type")]
    pub activity_type: ActivityType,
    /// For calls, emails and messages.
    pub direction: Option<Direction>,
    /// Defaults to now.
    pub occurred_at: Option<DateTime<Utc>>,
    #[schema(minimum = 0, maximum = 86400)]
    pub duration_seconds: Option<i32>,
    #[schema(max_length = 500)]
    pub subject: Option<String>,
    #[schema(max_length = 50000)]
    pub body: Option<String>,
    #[schema(max_length = 500)]
    pub outcome: Option<String>,
    pub client_id: i64,
    /// A contact person of the same client.
    pub contact_id: Option<i64>,
    /// A deal of the same client.
    pub deal_id: Option<i64>,
    #[schema(max_length = 200)]
    pub external_ref: Option<String>,
    /// An http(s) URL.
    #[schema(pattern = "^https?://", max_length = 2000)]
    pub recording_url: Option<String>,
}

/// Changes to an activity; its client and author stay.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityPatch {
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Direction>)]
    pub direction: Option<Option<Direction>>,
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>, minimum = 0, maximum = 86400)]
    pub duration_seconds: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub subject: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 50000)]
    pub body: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub outcome: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub contact_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub deal_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    /// An http(s) URL.
    #[schema(value_type = Option<String>, pattern = "^https?://", max_length = 2000)]
    pub recording_url: Option<Option<String>>,
}

#[derive(Debug, Default, Clone)]
pub struct ActivityFilter {
    pub owner_only: Option<i64>,
    pub client_id: Option<i64>,
    pub deal_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub author_id: Option<i64>,
    pub activity_type: Option<ActivityType>,
    pub occurred_from: Option<NaiveDateTime>,
    pub occurred_to: Option<NaiveDateTime>,
}

pub(super) fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The validated values of an activity, as written.
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset)]
#[diesel(table_name = activities, treat_none_as_null = true)]
pub(super) struct ActivityWrite {
    pub(super) activity_type: String,
    pub(super) direction: Option<String>,
    pub(super) occurred_at: NaiveDateTime,
    pub(super) duration_seconds: Option<i32>,
    pub(super) subject: Option<String>,
    pub(super) body: Option<String>,
    pub(super) outcome: Option<String>,
    pub(super) contact_id: Option<i64>,
    pub(super) deal_id: Option<i64>,
    pub(super) recording_url: Option<String>,
}

impl ActivityWrite {
    /// The rules the values keep on their own; the service adds those of the client's contacts
    /// and deals.
    pub(super) fn check_values(&self, errors: &mut FieldErrors) {
        let kind = ActivityType::parse(&self.activity_type);
        if self.direction.is_some() && !kind.has_direction() {
            errors.add("direction", "applies to calls, emails and messages only");
        }
        if let Some(d) = self.duration_seconds {
            errors.check((0..=86_400).contains(&d), "duration_seconds", "must be between 0 and 86400");
        }
        for (field, value, max) in
            [("subject", &self.subject, 500), ("outcome", &self.outcome, 500), ("body", &self.body, 50_000)]
        {
            errors.check(
                value.as_ref().is_none_or(|v| v.chars().count() <= max),
                field,
                format_args!("must be at most {max} characters"),
            );
        }
        if let Some(url) = &self.recording_url {
            let ok = (url.starts_with("https://") || url.starts_with("http://")) && url.chars().count() <= 2000;
            errors.check(ok, "recording_url", "must be an http(s) URL");
        }
    }
}
