//! The interaction history: calls, meetings, emails, messages and notes. Activities are the
//! company's record of work with a client: a manager may correct their own for a limited time,
//! only those with the deletion right may delete (softly), and nothing depends on the author
//! staying active.

pub mod api;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::db::schema::{activities, clients, contacts, deals};
use crate::db::{now, Db, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent};
use crate::pagination::{self, page_from, Cursor, Page};
use crate::patch::double_option;
use crate::versioning::AtReadVersion;
use crate::{keyset, order_keyset};

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
    fn has_direction(self) -> bool {
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
    #[schema(value_type = Option<i32>)]
    pub duration_seconds: Option<Option<i32>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub subject: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub body: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub outcome: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub contact_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub deal_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
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

/// Live activities of live clients; a manager sees those of clients they own and those they wrote.
macro_rules! visible_activities {
    ($owner_only:expr) => {{
        let mut q = activities::table
            .inner_join(clients::table)
            .filter(activities::deleted_at.is_null())
            .filter(clients::deleted_at.is_null())
            .select(activities::all_columns)
            .into_boxed::<Db>();
        if let Some(me) = $owner_only {
            q = q.filter(crate::clients::visibility::owns(me).or(activities::author_id.eq(me)));
        }
        q
    }};
}

pub fn get(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<Activity, ApiError> {
    let row: ActivityRow = visible_activities!(owner_only).filter(activities::id.eq(id)).first(conn)?;
    Ok(row.into())
}

pub fn list(
    conn: &mut DbConn,
    f: &ActivityFilter,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<Activity>, ApiError> {
    const TAG: &str = "-occurred_at";
    let mut q = visible_activities!(f.owner_only);
    if let Some(v) = f.client_id {
        q = q.filter(activities::client_id.eq(v));
    }
    if let Some(v) = f.deal_id {
        q = q.filter(activities::deal_id.eq(v));
    }
    if let Some(v) = f.contact_id {
        q = q.filter(activities::contact_id.eq(v));
    }
    if let Some(v) = f.author_id {
        q = q.filter(activities::author_id.eq(v));
    }
    if let Some(v) = f.activity_type {
        q = q.filter(activities::activity_type.eq(v.as_str()));
    }
    if let Some(v) = f.occurred_from {
        q = q.filter(activities::occurred_at.ge(v));
    }
    if let Some(v) = f.occurred_to {
        q = q.filter(activities::occurred_at.lt(v));
    }
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, TAG)?;
        q = keyset!(q, activities::occurred_at, activities::id, c.timestamp()?, c.id, true);
    }
    q = order_keyset!(q, activities::occurred_at, activities::id, true);
    let rows: Vec<ActivityRow> = q.limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor { sort: TAG.into(), key: pagination::ts_key(r.occurred_at), id: r.id })
        .map(Activity::from))
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The validated values of an activity, as written.
#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset)]
#[diesel(table_name = activities, treat_none_as_null = true)]
struct ActivityWrite {
    activity_type: String,
    direction: Option<String>,
    occurred_at: NaiveDateTime,
    duration_seconds: Option<i32>,
    subject: Option<String>,
    body: Option<String>,
    outcome: Option<String>,
    contact_id: Option<i64>,
    deal_id: Option<i64>,
    recording_url: Option<String>,
}

impl ActivityWrite {
    fn check(&self, conn: &mut DbConn, client_id: i64, errors: &mut FieldErrors) -> QueryResult<()> {
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
            let ok = (url.starts_with("https://") || url.starts_with("http://")) && url.len() <= 2000;
            errors.check(ok, "recording_url", "must be an http(s) URL");
        }
        if let Some(contact) = self.contact_id {
            let n: i64 = contacts::table
                .filter(contacts::id.eq(contact))
                .filter(contacts::client_id.eq(client_id))
                .filter(contacts::deleted_at.is_null())
                .count()
                .get_result(conn)?;
            errors.check(n > 0, "contact_id", "is not a contact person of this client");
        }
        if let Some(deal) = self.deal_id {
            let n: i64 = deals::table
                .filter(deals::id.eq(deal))
                .filter(deals::client_id.eq(client_id))
                .filter(deals::deleted_at.is_null())
                .count()
                .get_result(conn)?;
            errors.check(n > 0, "deal_id", "is not a deal of this client");
        }
        Ok(())
    }
}

/// Logs an activity on a client the actor can see.
pub fn create(
    conn: &mut DbConn,
    input: NewActivity,
    actor: &Caller,
    author_id: Option<i64>,
) -> Result<Activity, ApiError> {
    let mut errors = FieldErrors::new();
    if let Err(e) = crate::clients::repo::get_row(conn, input.client_id, actor.own_clients_only()) {
        return match e {
            ApiError::NotFound => Err(errors.fail("client_id", "is not a client you can see (deleted or unknown)")),
            other => Err(other),
        };
    }
    let write = ActivityWrite {
        activity_type: input.activity_type.as_str().into(),
        direction: input.direction.map(|d| d.as_str().into()),
        occurred_at: input.occurred_at.map_or_else(now, |t| t.naive_utc()),
        duration_seconds: input.duration_seconds,
        subject: clean(input.subject),
        body: clean(input.body),
        outcome: clean(input.outcome),
        contact_id: input.contact_id,
        deal_id: input.deal_id,
        recording_url: clean(input.recording_url),
    };
    write.check(conn, input.client_id, &mut errors)?;
    let external_ref = clean(input.external_ref);
    errors.check(
        external_ref.as_ref().is_none_or(|r| r.len() <= 200),
        "external_ref",
        "must be at most 200 characters",
    );
    errors.into_result()?;
    let at = now();
    let row: ActivityRow = diesel::insert_into(activities::table)
        .values((
            write,
            activities::client_id.eq(input.client_id),
            activities::author_id.eq(author_id),
            activities::external_ref.eq(external_ref),
            activities::version.eq(1i64),
            activities::created_at.eq(at),
            activities::updated_at.eq(at),
        ))
        .returning(activities::all_columns)
        .get_result(conn)?;
    let activity = Activity::from(row);
    events::record(
        conn,
        &actor.origin(),
        NewEvent {
            event_type: "activity.created",
            entity_type: ENTITY,
            entity_id: activity.id,
            payload: events::payload(&activity),
        },
    )?;
    Ok(activity)
}

/// A manager may change only what they logged, and only within the edit window.
/// Managers may edit only their own activities, within `edit_window_hours` of logging them.
fn may_edit(current: &Activity, actor: &Caller, edit_window_hours: i64) -> Result<(), ApiError> {
    if actor.own_clients_only().is_none() {
        return Ok(());
    }
    if current.author_id != actor.user_id {
        return Err(ApiError::Forbidden("activities are the company's record: you can only edit your own".into()));
    }
    if current.created_at.naive_utc() < now() - TimeDelta::hours(edit_window_hours) {
        return Err(ApiError::Forbidden(format!(
            "activities can be edited for {} hours after they are logged",
            edit_window_hours
        )));
    }
    Ok(())
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: ActivityPatch,
    expected: Option<i64>,
    actor: &Caller,
    edit_window_hours: i64,
) -> Result<Activity, ApiError> {
    let current = get(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    may_edit(&current, actor, edit_window_hours)?;
    let before = ActivityWrite {
        activity_type: current.activity_type.as_str().into(),
        direction: current.direction.map(|d| d.as_str().into()),
        occurred_at: current.occurred_at.naive_utc(),
        duration_seconds: current.duration_seconds,
        subject: current.subject.clone(),
        body: current.body.clone(),
        outcome: current.outcome.clone(),
        contact_id: current.contact_id,
        deal_id: current.deal_id,
        recording_url: current.recording_url.clone(),
    };
    let mut w = before.clone();
    if let Some(v) = patch.direction {
        w.direction = v.map(|d| d.as_str().into());
    }
    if let Some(v) = patch.occurred_at {
        w.occurred_at = v.naive_utc();
    }
    if let Some(v) = patch.duration_seconds {
        w.duration_seconds = v;
    }
    if let Some(v) = patch.subject {
        w.subject = clean(v);
    }
    if let Some(v) = patch.body {
        w.body = clean(v);
    }
    if let Some(v) = patch.outcome {
        w.outcome = clean(v);
    }
    if let Some(v) = patch.contact_id {
        w.contact_id = v;
    }
    if let Some(v) = patch.deal_id {
        w.deal_id = v;
    }
    if let Some(v) = patch.recording_url {
        w.recording_url = clean(v);
    }
    let mut errors = FieldErrors::new();
    w.check(conn, current.client_id, &mut errors)?;
    errors.into_result()?;
    if w == before {
        return Ok(current);
    }
    let row: ActivityRow =
        diesel::update(activities::table.filter(activities::id.eq(id)).filter(activities::version.eq(current.version)))
            .set((w, activities::version.eq(current.version + 1), activities::updated_at.eq(now())))
            .returning(activities::all_columns)
            .get_result(conn)
            .at_read_version()?;
    let activity = Activity::from(row);
    events::record(
        conn,
        &actor.origin(),
        NewEvent {
            event_type: "activity.updated",
            entity_type: ENTITY,
            entity_id: activity.id,
            payload: events::payload(&activity),
        },
    )?;
    Ok(activity)
}

pub fn delete(conn: &mut DbConn, id: i64, expected: Option<i64>, actor: &Caller) -> Result<(), ApiError> {
    let current = get(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    let at = now();
    diesel::update(activities::table.find(id))
        .set((
            activities::deleted_at.eq(Some(at)),
            activities::updated_at.eq(at),
            activities::version.eq(current.version + 1),
        ))
        .execute(conn)?;
    events::record(
        conn,
        &actor.origin(),
        NewEvent {
            event_type: "activity.deleted",
            entity_type: ENTITY,
            entity_id: id,
            payload: serde_json::json!({ "id": id, "client_id": current.client_id, "deleted_at": at.and_utc() })
                .to_string(),
        },
    )?;
    Ok(())
}

/// Activities by id, for the timeline (one query).
pub fn by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Activity>> {
    let rows: Vec<ActivityRow> =
        activities::table.filter(activities::id.eq_any(ids)).select(ActivityRow::as_select()).load(conn)?;
    Ok(rows.into_iter().map(Activity::from).collect())
}
