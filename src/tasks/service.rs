//! The rules of creating, changing and deleting tasks: who may be assigned, which client and
//! deal a task may be about, the completion stamp, and the event of every change.

use std::collections::HashSet;

use super::model::{
    check_title, Generated, NewTask, Planned, Task, TaskChanges, TaskInsert, TaskPatch, TaskStatus, TaskType, ENTITY,
};
use super::repo;
use crate::auth::Caller;
use crate::db::{now, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent, Origin};

fn check_assignee(
    conn: &mut DbConn,
    assignee: Option<i64>,
    actor: &Caller,
    errors: &mut FieldErrors,
) -> diesel::QueryResult<()> {
    if let Some(me) = actor.own_clients_only() {
        errors.check(assignee == Some(me), "assignee_id", "a manager assigns tasks to themselves only");
    }
    if let Some(id) = assignee {
        let active = repo::user_active(conn, id)?;
        errors.check(active == Some(true), "assignee_id", "is not an active user");
    }
    Ok(())
}

/// The client must be live and visible; the deal live, visible and of that client.
fn check_links(
    conn: &mut DbConn,
    client_id: Option<i64>,
    deal_id: Option<i64>,
    actor: &Caller,
    errors: &mut FieldErrors,
) -> Result<Option<i64>, ApiError> {
    if let Some(client) = client_id {
        match crate::clients::repo::get_row(conn, client, actor.own_clients_only()) {
            Ok(_) => {}
            Err(ApiError::NotFound) => errors.add("client_id", "is not a client you can see (deleted or unknown)"),
            Err(e) => return Err(e),
        }
    }
    let mut client_of_deal = None;
    if let Some(deal) = deal_id {
        match crate::deals::repo::get_row(conn, deal, actor.own_clients_only()) {
            Ok(d) => {
                errors.check(client_id.is_none_or(|c| c == d.client_id), "deal_id", "is a deal of another client");
                client_of_deal = Some(d.client_id);
            }
            Err(ApiError::NotFound) => errors.add("deal_id", "is not a deal you can see (deleted or unknown)"),
            Err(e) => return Err(e),
        }
    }
    Ok(client_id.or(client_of_deal))
}

/// Records `event_type` for the task, with the task as its payload.
fn record(conn: &mut DbConn, origin: &Origin, event_type: &'static str, task: &Task) -> Result<(), ApiError> {
    events::record(
        conn,
        origin,
        NewEvent { event_type, entity_type: ENTITY, entity_id: task.id, payload: events::payload(task) },
    )?;
    Ok(())
}

/// Writes a new task and records `task.created`.
fn insert(conn: &mut DbConn, row: TaskInsert, origin: &Origin) -> Result<Task, ApiError> {
    let task = Task::from(repo::insert(conn, row)?);
    record(conn, origin, "task.created", &task)?;
    Ok(task)
}

pub fn create(conn: &mut DbConn, input: NewTask, actor: &Caller) -> Result<Task, ApiError> {
    let mut errors = FieldErrors::new();
    check_title(&input.title, &mut errors);
    let assignee = input.assignee_id.or(actor.user_id);
    check_assignee(conn, assignee, actor, &mut errors)?;
    let client_id = check_links(conn, input.client_id, input.deal_id, actor, &mut errors)?;
    errors.into_result()?;
    let at = now();
    let origin = actor.origin();
    let row = TaskInsert {
        title: input.title.trim().to_string(),
        task_type: input.task_type.as_str().to_string(),
        description: input.description.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()),
        due_at: input.due_at.naive_utc(),
        assignee_id: assignee,
        client_id,
        deal_id: input.deal_id,
        status: TaskStatus::Open.as_str().to_string(),
        created_by: origin.actor.clone(),
        version: 1,
        created_at: at,
        updated_at: at,
    };
    insert(conn, row, &origin)
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: TaskPatch,
    expected: Option<i64>,
    actor: &Caller,
) -> Result<Task, ApiError> {
    let current = repo::get(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    let mut errors = FieldErrors::new();
    if let Some(t) = &patch.title {
        check_title(t, &mut errors);
    }
    if let Some(a) = patch.assignee_id.filter(|a| Some(*a) != current.assignee_id) {
        check_assignee(conn, Some(a), actor, &mut errors)?;
    }
    if let Some(activity) = patch.completed_activity_id {
        let client = repo::activity_client(conn, activity)?;
        let ok = client.is_some() && (current.client_id.is_none() || client == current.client_id);
        errors.check(ok, "completed_activity_id", "is not an activity of the task's client");
    }
    errors.into_result()?;
    let status = patch.status.unwrap_or(current.status);
    let completed_at = match (current.status, status) {
        (TaskStatus::Done, TaskStatus::Done) => None,
        (_, TaskStatus::Done) => Some(Some(now())),
        (TaskStatus::Done, _) => Some(None),
        _ => None,
    };
    let changes = TaskChanges {
        title: patch.title.map(|t| t.trim().to_string()),
        task_type: patch.task_type.map(|t| t.as_str().to_string()),
        description: patch.description.map(|d| d.map(|d| d.trim().to_string()).filter(|d| !d.is_empty())),
        due_at: patch.due_at.map(|d| d.naive_utc()),
        assignee_id: patch.assignee_id.map(Some),
        status: patch.status.map(|s| s.as_str().to_string()),
        completed_at,
        completed_activity_id: patch.completed_activity_id.map(Some),
    };
    let task = Task::from(repo::update_at(conn, id, current.version, changes)?);
    let event_type = if current.status != TaskStatus::Done && task.status == TaskStatus::Done {
        "task.completed"
    } else {
        "task.updated"
    };
    record(conn, &actor.origin(), event_type, &task)?;
    Ok(task)
}

/// Deletes an open or cancelled task; done tasks are part of the client's history and stay.
pub fn delete(conn: &mut DbConn, id: i64, expected: Option<i64>, actor: &Caller) -> Result<(), ApiError> {
    let current = repo::get(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    if current.status == TaskStatus::Done {
        return Err(ApiError::Conflict("a done task is part of the client's history and cannot be deleted".into()));
    }
    repo::delete(conn, id)?;
    events::record(
        conn,
        &actor.origin(),
        NewEvent {
            event_type: "task.deleted",
            entity_type: ENTITY,
            entity_id: id,
            payload: serde_json::json!({ "id": id, "client_id": current.client_id }).to_string(),
        },
    )?;
    Ok(())
}

/// Creates the planned tasks of `task_type`, due now, except for clients that already have an
/// open one of that type. Returns the new task ids and how many were already open.
pub fn create_unless_open(
    conn: &mut DbConn,
    task_type: TaskType,
    planned: Vec<Planned>,
    origin: &Origin,
) -> Result<(Vec<i64>, usize), ApiError> {
    let ids: Vec<i64> = planned.iter().map(|p| p.client_id).collect();
    let open = repo::with_open(conn, task_type, &ids)?;
    let at = now();
    let total = planned.len();
    let generated: Vec<Generated> = planned
        .into_iter()
        .filter(|p| !open.contains(&p.client_id))
        .map(|p| Generated {
            task_type,
            title: p.title,
            description: p.description,
            due_at: at,
            assignee_id: p.assignee_id,
            client_id: p.client_id,
            deal_id: None,
        })
        .collect();
    let created: Vec<i64> = create_generated(conn, generated, origin)?.into_iter().map(|t| t.id).collect();
    let already_open = total - created.len();
    Ok((created, already_open))
}

/// Creates tasks a rule generated, with their `task.created` events, in a fixed number of
/// statements per thousand.
pub fn create_generated(conn: &mut DbConn, list: Vec<Generated>, origin: &Origin) -> Result<Vec<Task>, ApiError> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let at = now();
    let rows = list
        .into_iter()
        .map(|g| TaskInsert {
            title: g.title.chars().take(300).collect(),
            task_type: g.task_type.as_str().to_string(),
            description: g.description.filter(|d| !d.trim().is_empty()),
            due_at: g.due_at,
            assignee_id: Some(g.assignee_id),
            client_id: Some(g.client_id),
            deal_id: g.deal_id,
            status: TaskStatus::Open.as_str().to_string(),
            created_by: origin.actor.clone(),
            version: 1,
            created_at: at,
            updated_at: at,
        })
        .collect();
    let tasks: Vec<Task> = repo::insert_many(conn, rows)?.into_iter().map(Task::from).collect();
    let list = tasks
        .iter()
        .map(|t| NewEvent {
            event_type: "task.created",
            entity_type: ENTITY,
            entity_id: t.id,
            payload: events::payload(t),
        })
        .collect();
    events::record_many(conn, origin, list)?;
    Ok(tasks)
}

/// The clients and deals among these that have an open task of `task_type`.
pub fn open_of_type(
    conn: &mut DbConn,
    task_type: TaskType,
    client_ids: &[i64],
    deal_ids: &[i64],
) -> Result<(HashSet<i64>, HashSet<i64>), ApiError> {
    let mut clients = HashSet::new();
    for chunk in client_ids.chunks(1000) {
        clients.extend(repo::with_open(conn, task_type, chunk)?);
    }
    let mut deals = HashSet::new();
    for chunk in deal_ids.chunks(1000) {
        deals.extend(repo::deals_with_open(conn, task_type, chunk)?);
    }
    Ok((clients, deals))
}
