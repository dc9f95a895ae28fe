//! The rules of logging, correcting and deleting activities: what the values may name, who may
//! edit for how long, and the event of every change.

use chrono::TimeDelta;

use super::model::{clean, Activity, ActivityPatch, ActivityWrite, NewActivity, ENTITY};
use super::repo::{self, get};
use crate::auth::Caller;
use crate::db::{now, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent};

/// The rules of the values, then that the contact and the deal they name are the client's.
fn check(w: &ActivityWrite, conn: &mut DbConn, client_id: i64, errors: &mut FieldErrors) -> diesel::QueryResult<()> {
    w.check_values(errors);
    if let Some(contact) = w.contact_id {
        errors.check(
            repo::is_contact_of(conn, contact, client_id)?,
            "contact_id",
            "is not a contact person of this client",
        );
    }
    if let Some(deal) = w.deal_id {
        errors.check(repo::is_deal_of(conn, deal, client_id)?, "deal_id", "is not a deal of this client");
    }
    Ok(())
}

/// Records `event_type` for the activity, with the activity as its payload.
fn record(
    conn: &mut DbConn,
    actor: &Caller,
    event_type: &'static str,
    activity: Activity,
) -> Result<Activity, ApiError> {
    events::record(
        conn,
        &actor.origin(),
        NewEvent { event_type, entity_type: ENTITY, entity_id: activity.id, payload: events::payload(&activity) },
    )?;
    Ok(activity)
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
    check(&write, conn, input.client_id, &mut errors)?;
    let external_ref = clean(input.external_ref);
    errors.check(
        external_ref.as_ref().is_none_or(|r| r.len() <= 200),
        "external_ref",
        "must be at most 200 characters",
    );
    errors.into_result()?;
    let row = repo::insert(conn, write, input.client_id, author_id, external_ref)?;
    record(conn, actor, "activity.created", Activity::from(row))
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
    check(&w, conn, current.client_id, &mut errors)?;
    errors.into_result()?;
    if w == before {
        return Ok(current);
    }
    let row = repo::update_at(conn, id, current.version, w)?;
    record(conn, actor, "activity.updated", Activity::from(row))
}

pub fn delete(conn: &mut DbConn, id: i64, expected: Option<i64>, actor: &Caller) -> Result<(), ApiError> {
    let current = get(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    let at = now();
    repo::soft_delete(conn, id, current.version, at)?;
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
