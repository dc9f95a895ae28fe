//! Telephony's queries: who holds a number (through the shared visibility rule), the screen
//! pop's details, the staff member behind a call, call-back loads and a call's activity.

use std::collections::HashMap;

use diesel::prelude::*;

use super::model::{
    CallEvent, ClientSummary, ContactSummary, DealSummary, Lookup, Match, OwnerSummary, Owning, TaskSummary,
};
use crate::clients::contact_points::phone_in;
use crate::db::schema::{activities as activities_t, clients, contact_points, contacts, deals, tasks, users};
use crate::db::{Db, DbConn};
use crate::error::ApiError;
use crate::tasks::{TaskStatus, TaskType};

/// The live clients holding a number, most recently updated first, one row each.
pub(crate) fn holders(conn: &mut DbConn, e164: &str, owner_only: Option<i64>) -> QueryResult<Vec<Owning>> {
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

/// The user behind `user_id` or `extension`, if active.
pub(crate) fn staff(conn: &mut DbConn, e: &CallEvent) -> QueryResult<Option<i64>> {
    let mut q = users::table.filter(users::active.eq(true)).select(users::id).into_boxed::<Db>();
    q = match (e.user_id, &e.extension) {
        (Some(id), _) => q.filter(users::id.eq(id)),
        (None, Some(ext)) => q.filter(users::phone_extension.eq(ext.trim().to_string())),
        (None, None) => return Ok(None),
    };
    q.first(conn).optional()
}

/// The active manager with the fewest open call-back tasks.
pub(crate) fn least_loaded_manager(conn: &mut DbConn) -> QueryResult<Option<i64>> {
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

/// A logged call: its activity, client, contact person, outcome and whether the activity or its
/// client was deleted since.
pub(crate) type LoggedCall = (i64, i64, Option<i64>, Option<String>, bool);

pub(crate) fn logged_call(conn: &mut DbConn, external_ref: &str) -> QueryResult<Option<LoggedCall>> {
    activities_t::table
        .inner_join(clients::table)
        .filter(activities_t::external_ref.eq(external_ref))
        .select((
            activities_t::id,
            activities_t::client_id,
            activities_t::contact_id,
            activities_t::outcome,
            activities_t::deleted_at.is_not_null().or(clients::deleted_at.is_not_null()),
        ))
        .first(conn)
        .optional()
}

/// The contact person, unless deleted.
pub(crate) fn live_contact(conn: &mut DbConn, id: Option<i64>) -> QueryResult<Option<i64>> {
    let Some(id) = id else { return Ok(None) };
    contacts::table.find(id).filter(contacts::deleted_at.is_null()).select(contacts::id).first(conn).optional()
}
