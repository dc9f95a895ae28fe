//! Telephony: the screen pop (who is calling?) and call logging. Every call becomes a `call`
//! activity on the client — one per call id, however many events the PBX sends — and an
//! unknown caller becomes a potential client with a call-back task, so that everyone who ever
//! called to ask a price is in the base.
//!
//! Routing of an unknown caller: the user who took the call (by `user_id` or extension) owns the
//! new client and the task; otherwise the active manager with the fewest open call-back tasks
//! (then the lowest id); with no active manager the client stays unassigned.

pub mod api;

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::activities::{self, ActivityPatch, ActivityType, Direction, NewActivity};
use crate::auth::Caller;
use crate::clients::contact_points::phone_in;
use crate::clients::model::{ClientKind, ClientStatus, NewClient, Phone, PhoneType};
use crate::clients::service::{self, CardRules};
use crate::db::schema::{activities as activities_t, clients, contact_points, contacts, deals, tasks, users};
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::normalize::phone::normalize_phone;
use crate::tasks::{self as tasks_mod, NewTask, TaskStatus, TaskType};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClientSummary {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub owner_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactSummary {
    pub id: i64,
    pub name: String,
    pub position: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OwnerSummary {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DealSummary {
    pub id: i64,
    pub title: String,
    pub stage_id: i64,
    pub amount: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskSummary {
    pub id: i64,
    pub title: String,
    #[serde(rename = "type")]
    pub task_type: String,
    pub due_at: DateTime<Utc>,
}

/// One client (and contact person) owning the number.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Match {
    pub client: ClientSummary,
    /// The contact person the number belongs to, if it is theirs rather than the card's.
    pub contact: Option<ContactSummary>,
    pub owner: Option<OwnerSummary>,
    pub open_deals: Vec<DealSummary>,
    pub open_tasks: Vec<TaskSummary>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Lookup {
    /// The number in E.164.
    pub phone: String,
    /// Most recently updated client first.
    pub matches: Vec<Match>,
}

/// A client holding the number, on its card or on one of its contact persons.
#[derive(Queryable)]
struct Owning {
    id: i64,
    name: String,
    status: String,
    owner_id: Option<i64>,
    updated_at: chrono::NaiveDateTime,
    contact_id: Option<i64>,
}

/// The live clients holding a number, most recently updated first, one row each.
fn holders(conn: &mut DbConn, e164: &str, owner_only: Option<i64>) -> QueryResult<Vec<Owning>> {
    let mut q = contact_points::table
        .inner_join(clients::table)
        .filter(phone_in(&[e164.to_string()]))
        .filter(clients::deleted_at.is_null())
        .select((
            clients::id,
            clients::name,
            clients::status,
            clients::owner_id,
            clients::updated_at,
            contact_points::contact_id,
        ))
        .into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, owner_only);
    let mut found: Vec<Owning> = q.load(conn)?;
    found.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
    found.dedup_by_key(|f| f.id);
    Ok(found)
}

/// Who owns a number, with their open deals and tasks: a fixed number of indexed queries.
pub fn lookup(conn: &mut DbConn, e164: &str, owner_only: Option<i64>) -> Result<Lookup, ApiError> {
    let found = holders(conn, e164, owner_only)?;
    let ids: Vec<i64> = found.iter().map(|f| f.id).collect();
    let contact_ids: Vec<i64> = found.iter().filter_map(|f| f.contact_id).collect();
    let owner_ids: Vec<i64> = found.iter().filter_map(|f| f.owner_id).collect();
    let people: HashMap<i64, ContactSummary> = contacts::table
        .filter(contacts::id.eq_any(&contact_ids))
        .filter(contacts::deleted_at.is_null())
        .select((contacts::id, contacts::name, contacts::position))
        .load::<(i64, String, Option<String>)>(conn)?
        .into_iter()
        .map(|(id, name, position)| (id, ContactSummary { id, name, position }))
        .collect();
    let owners: HashMap<i64, OwnerSummary> = users::table
        .filter(users::id.eq_any(&owner_ids))
        .select((users::id, users::name, users::email))
        .load::<(i64, String, String)>(conn)?
        .into_iter()
        .map(|(id, name, email)| (id, OwnerSummary { id, name, email }))
        .collect();
    let open_deals: Vec<(i64, i64, String, i64, i64)> = deals::table
        .filter(deals::client_id.eq_any(&ids))
        .filter(deals::status.eq("open"))
        .filter(deals::deleted_at.is_null())
        .select((deals::client_id, deals::id, deals::title, deals::stage_id, deals::amount))
        .load(conn)?;
    let open_tasks: Vec<(Option<i64>, i64, String, String, chrono::NaiveDateTime)> = tasks::table
        .filter(tasks::client_id.eq_any(&ids))
        .filter(tasks::status.eq(TaskStatus::Open.as_str()))
        .order(tasks::due_at)
        .select((tasks::client_id, tasks::id, tasks::title, tasks::task_type, tasks::due_at))
        .load(conn)?;
    let matches = found
        .into_iter()
        .map(|Owning { id, name, status, owner_id, contact_id, .. }| Match {
            client: ClientSummary { id, name, status, owner_id },
            contact: contact_id.and_then(|c| people.get(&c).cloned()),
            owner: owner_id.and_then(|o| owners.get(&o).cloned()),
            open_deals: open_deals
                .iter()
                .filter(|d| d.0 == id)
                .map(|d| DealSummary {
                    id: d.1,
                    title: d.2.clone(),
                    stage_id: d.3,
                    amount: crate::money::format_minor(d.4),
                })
                .collect(),
            open_tasks: open_tasks
                .iter()
                .filter(|t| t.0 == Some(id))
                .map(|t| TaskSummary { id: t.1, title: t.2.clone(), task_type: t.3.clone(), due_at: t.4.and_utc() })
                .collect(),
        })
        .collect();
    Ok(Lookup { phone: e164.to_string(), matches })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    Ringing,
    Answered,
    Ended,
    Missed,
}

/// A call event from the PBX. Several events of one call (ringing, answered, ended) update
/// one activity.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallEvent {
    /// The PBX's id of the call.
    #[schema(min_length = 1, max_length = 190)]
    pub call_id: String,
    pub direction: Direction,
    /// The calling number, in any format.
    pub from: String,
    /// The called number.
    pub to: String,
    pub status: Option<CallStatus>,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    #[schema(minimum = 0, maximum = 86400)]
    pub duration_seconds: Option<i32>,
    pub recording_url: Option<String>,
    /// The user who took or made the call…
    pub user_id: Option<i64>,
    /// …or their extension.
    pub extension: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallLogged {
    pub client_id: i64,
    pub contact_id: Option<i64>,
    pub activity_id: i64,
    /// True when the caller was unknown and became a potential client.
    pub created_client: bool,
    /// The call-back task created for a new client.
    pub task_id: Option<i64>,
}

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

/// The user behind `user_id` or `extension`, if active.
fn staff(conn: &mut DbConn, e: &CallEvent) -> QueryResult<Option<i64>> {
    let mut q = users::table.filter(users::active.eq(true)).select(users::id).into_boxed::<Db>();
    q = match (e.user_id, &e.extension) {
        (Some(id), _) => q.filter(users::id.eq(id)),
        (None, Some(ext)) => q.filter(users::phone_extension.eq(ext.trim().to_string())),
        (None, None) => return Ok(None),
    };
    q.first(conn).optional()
}

/// The active manager with the fewest open call-back tasks.
fn least_loaded_manager(conn: &mut DbConn) -> QueryResult<Option<i64>> {
    let managers: Vec<i64> = users::table
        .filter(users::active.eq(true))
        .filter(users::role.eq("manager"))
        .order(users::id)
        .select(users::id)
        .load(conn)?;
    let loads: HashMap<Option<i64>, i64> = tasks::table
        .filter(tasks::status.eq(TaskStatus::Open.as_str()))
        .filter(tasks::task_type.eq(TaskType::CallBack.as_str()))
        .filter(tasks::assignee_id.eq_any(&managers))
        .group_by(tasks::assignee_id)
        .select((tasks::assignee_id, diesel::dsl::count_star()))
        .load::<(Option<i64>, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(managers.into_iter().min_by_key(|m| (loads.get(&Some(*m)).copied().unwrap_or(0), *m)))
}

pub fn log_call(conn: &mut DbConn, e: CallEvent, region: phonenumber::country::Id) -> Result<CallLogged, ApiError> {
    let (raw, field) = match e.direction {
        Direction::Inbound => (&e.from, "from"),
        Direction::Outbound => (&e.to, "to"),
    };
    let number = normalize_phone(raw, region).map_err(|m| ApiError::field(field, m))?;
    let call_id = e.call_id.trim();
    if call_id.is_empty() || call_id.len() > 190 {
        return Err(ApiError::field("call_id", "must be 1 to 190 characters"));
    }
    let external_ref = format!("call:{call_id}");
    let user = staff(conn, &e)?;
    // The PBX reports for the whole office: the call is logged as its extension's user, who sees
    // every card here.
    let actor = Caller::system(user.map(|u| format!("user:{u}")), "telephony").on_behalf_of(user);
    let existing: Option<(i64, i64, Option<i64>)> = activities_t::table
        .filter(activities_t::external_ref.eq(&external_ref))
        .select((activities_t::id, activities_t::client_id, activities_t::contact_id))
        .first(conn)
        .optional()?;
    if let Some((activity_id, client_id, contact_id)) = existing {
        let patch = ActivityPatch {
            duration_seconds: Some(duration(&e)),
            outcome: Some(Some(outcome(&e).into())),
            recording_url: e.recording_url.clone().map(Some),
            occurred_at: e.started_at,
            ..Default::default()
        };
        activities::update(conn, activity_id, patch, None, &actor, 0)?;
        return Ok(CallLogged { client_id, contact_id, activity_id, created_client: false, task_id: None });
    }
    // The caller's card, without the deals and tasks a screen pop shows.
    let known = holders(conn, &number, None)?.into_iter().next();
    let (client_id, contact_id, created_client, task_id) = match known {
        Some(h) => (h.id, live_contact(conn, h.contact_id)?, false, None),
        None => {
            let owner = match user {
                Some(u) => Some(u),
                None => least_loaded_manager(conn)?,
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
    Ok(CallLogged { client_id, contact_id, activity_id: activity.id, created_client, task_id })
}

/// The contact person, unless deleted.
fn live_contact(conn: &mut DbConn, id: Option<i64>) -> QueryResult<Option<i64>> {
    let Some(id) = id else { return Ok(None) };
    contacts::table.find(id).filter(contacts::deleted_at.is_null()).select(contacts::id).first(conn).optional()
}

fn unknown_caller(number: &str) -> NewClient {
    NewClient {
        kind: ClientKind::Person,
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
