//! The rules of logging a call: the number and call id checked, one activity per call id, and
//! an unknown caller turned into a potential client with a call-back task for whom it is routed
//! to.

use chrono::Duration;

use super::model::{CallEvent, CallLogged, CallStatus};
use super::repo;
use crate::activities::{self, ActivityPatch, ActivityType, Direction, NewActivity};
use crate::auth::Caller;
use crate::clients::model::{ClientKind, ClientStatus, NewClient, Phone, PhoneType};
use crate::clients::service::{self, CardRules};
use crate::db::{now, DbConn};
use crate::error::ApiError;
use crate::normalize::phone::normalize_phone;
use crate::tasks::{self as tasks_mod, NewTask, TaskType};

fn outcome(e: &CallEvent) -> &'static str {
    match (e.status, e.answered_at.is_some()) {
        (Some(CallStatus::Missed), _) => "missed",
        (Some(CallStatus::Ringing), false) => "ringing",
        (_, true) | (Some(CallStatus::Answered), _) => "answered",
        (Some(CallStatus::Ended), false) => "missed",
        (None, false) => "logged",
    }
}

fn duration(e: &CallEvent) -> Option<i32> {
    e.duration_seconds.or_else(|| match (e.answered_at.or(e.started_at), e.ended_at) {
        (Some(a), Some(b)) if b >= a => Some((b - a).num_seconds().min(86_400) as i32),
        _ => None,
    })
}

pub fn log_call(conn: &mut DbConn, e: CallEvent, region: phonenumber::country::Id) -> Result<CallLogged, ApiError> {
    let (raw, field) = match e.direction {
        Direction::Inbound => (&e.from, "from"),
        Direction::Outbound => (&e.to, "to"),
    };
    let number = normalize_phone(raw, region).map_err(|m| ApiError::field(field, m))?;
    let call_id = e.call_id.trim();
    if call_id.is_empty() || call_id.chars().count() > 190 {
        return Err(ApiError::field("call_id", "must be 1 to 190 characters"));
    }
    let external_ref = format!("call:{call_id}");
    let user = repo::staff(conn, &e)?;
    // The PBX reports for the whole office: the call is logged as its extension's user, who sees
    // every card here.
    let actor = Caller::system(user.map(|u| format!("user:{u}")), "telephony").on_behalf_of(user);
    let existing = repo::logged_call(conn, &external_ref)?;
    if let Some((activity_id, client_id, contact_id, was, deleted)) = existing {
        // Someone deleted the call's activity or its client: later events of the call are
        // acknowledged and do not bring either back (the call id stays taken, so nothing new
        // is logged either).
        if deleted {
            return Ok(CallLogged { client_id, contact_id, activity_id, created_client: false, task_id: None });
        }
        let patch = ActivityPatch {
            duration_seconds: Some(duration(&e)),
            outcome: Some(Some(outcome(&e).into())),
            recording_url: e.recording_url.clone().map(Some),
            occurred_at: e.started_at,
            ..Default::default()
        };
        activities::update(conn, activity_id, patch, None, &actor, 0)?;
        if outcome(&e) == "missed" && was.as_deref() != Some("missed") {
            missed(conn, &actor, activity_id, client_id, contact_id, user, &number, false)?;
        }
        return Ok(CallLogged { client_id, contact_id, activity_id, created_client: false, task_id: None });
    }
    // The caller's card, without the deals and tasks a screen pop shows.
    let known = repo::holders(conn, &number, None)?.into_iter().next();
    let (client_id, contact_id, created_client, task_id) = match known {
        Some(h) => (h.id, repo::live_contact(conn, h.contact_id)?, false, None),
        None => {
            let owner = match user {
                Some(u) => Some(u),
                None => repo::least_loaded_manager(conn)?,
            };
            let rules = CardRules { phone_region: region, default_owner: owner };
            let client = service::create(conn, unknown_caller(&number), &actor, rules)?;
            let task = tasks_mod::create(
                conn,
                NewTask {
                    title: format!("Call back {number}"),
                    task_type: TaskType::CallBack,
                    description: Some("A new number called: find out who it is and what they need.".into()),
                    due_at: (now() + Duration::hours(1)).and_utc(),
                    assignee_id: owner,
                    client_id: Some(client.id),
                    deal_id: None,
                },
                &actor,
            )?;
            (client.id, None, true, Some(task.id))
        }
    };
    let activity = activities::create(
        conn,
        NewActivity {
            activity_type: ActivityType::Call,
            direction: Some(e.direction),
            occurred_at: e.started_at,
            duration_seconds: duration(&e),
            subject: Some(format!(
                "{} call {}",
                match e.direction {
                    Direction::Inbound => "Inbound",
                    Direction::Outbound => "Outbound",
                },
                number
            )),
            body: None,
            outcome: Some(outcome(&e).into()),
            client_id,
            contact_id,
            deal_id: None,
            external_ref: Some(external_ref),
            recording_url: e.recording_url.clone(),
        },
        &actor,
        user,
    )?;
    if outcome(&e) == "missed" {
        missed(conn, &actor, activity.id, client_id, contact_id, user, &number, created_client)?;
    }
    Ok(CallLogged { client_id, contact_id, activity_id: activity.id, created_client, task_id })
}

/// Records `call.missed`: automations call the number back, webhooks may tell a bot.
#[allow(clippy::too_many_arguments)]
fn missed(
    conn: &mut DbConn,
    actor: &Caller,
    activity_id: i64,
    client_id: i64,
    contact_id: Option<i64>,
    user_id: Option<i64>,
    number: &str,
    created_client: bool,
) -> Result<(), ApiError> {
    let payload = serde_json::json!({
        "activity_id": activity_id,
        "client_id": client_id,
        "contact_id": contact_id,
        "user_id": user_id,
        "number": number,
        "created_client": created_client,
    });
    crate::events::record(
        conn,
        &actor.origin(),
        crate::events::NewEvent {
            event_type: "call.missed",
            entity_type: "activity",
            entity_id: activity_id,
            payload: payload.to_string(),
        },
    )?;
    Ok(())
}

fn unknown_caller(number: &str) -> NewClient {
    NewClient {
        kind: ClientKind::Person,
        roles: vec![crate::clients::model::CounterpartyRole::Client],
        name: number.to_string(),
        legal_name: None,
        inn: None,
        status: ClientStatus::Potential,
        lost_reason: None,
        channel: None,
        region: None,
        industry: None,
        source: Some("inbound_call".into()),
        owner_id: None,
        tags: Vec::new(),
        notes: None,
        custom_fields: None,
        external_ids: Default::default(),
        phones: vec![Phone { number: number.to_string(), phone_type: PhoneType::Other }],
        emails: Vec::new(),
        addresses: Vec::new(),
        mailing_consent: false,
        estimated_potential: None,
    }
}
