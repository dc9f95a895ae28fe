//! Tasks: what someone has to do next, and when — call back, meet, send a proposal, reactivate
//! a client, push for payment. `GET /tasks?assignee=me&due=today` is a manager's day.

pub mod api;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::db::schema::{activities, tasks, users};
use crate::db::{now, Db, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent, Origin};
use crate::pagination::{self, page_from, Cursor, Page, Sort};
use crate::patch::double_option;
use crate::versioning::AtReadVersion;
use crate::{keyset, order_keyset};

pub const ENTITY: &str = "task";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tasks)]
pub struct TaskRow {
    pub id: i64,
    pub title: String,
    pub task_type: String,
    pub description: Option<String>,
    pub due_at: NaiveDateTime,
    pub assignee_id: Option<i64>,
    pub client_id: Option<i64>,
    pub deal_id: Option<i64>,
    pub status: String,
    pub completed_at: Option<NaiveDateTime>,
    pub completed_activity_id: Option<i64>,
    pub created_by: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    CallBack,
    Meeting,
    SendProposal,
    Reactivation,
    PostSale,
    PaymentFollowUp,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Done,
    Cancelled,
}

crate::text_enum!(TaskType {
    CallBack = "call_back",
    Meeting = "meeting",
    SendProposal = "send_proposal",
    Reactivation = "reactivation",
    PostSale = "post_sale",
    PaymentFollowUp = "payment_follow_up",
    Other = "other",
} else Other);
crate::text_enum!(TaskStatus { Open = "open", Done = "done", Cancelled = "cancelled" } else Open);

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Task {
    pub id: i64,
    pub title: String,
    #[serde(rename = "type")]
    pub task_type: TaskType,
    pub description: Option<String>,
    pub due_at: DateTime<Utc>,
    pub assignee_id: Option<i64>,
    pub client_id: Option<i64>,
    pub deal_id: Option<i64>,
    pub status: TaskStatus,
    /// Set when the task was done.
    pub completed_at: Option<DateTime<Utc>>,
    /// The activity that did it (the call made, the meeting held).
    pub completed_activity_id: Option<i64>,
    pub created_by: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TaskRow> for Task {
    fn from(r: TaskRow) -> Task {
        Task {
            id: r.id,
            title: r.title,
            task_type: TaskType::parse(&r.task_type),
            description: r.description,
            due_at: r.due_at.and_utc(),
            assignee_id: r.assignee_id,
            client_id: r.client_id,
            deal_id: r.deal_id,
            status: TaskStatus::parse(&r.status),
            completed_at: r.completed_at.map(|t| t.and_utc()),
            completed_activity_id: r.completed_activity_id,
            created_by: r.created_by,
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    #[schema(min_length = 1, max_length = 300)]
    pub title: String,
    #[serde(rename = "type")]
    pub task_type: TaskType,
    pub description: Option<String>,
    pub due_at: DateTime<Utc>,
    /// Defaults to the calling user; managers assign tasks to themselves only.
    pub assignee_id: Option<i64>,
    pub client_id: Option<i64>,
    /// A deal (of the same client, when both are given).
    pub deal_id: Option<i64>,
}

/// Changes to a task. Setting `status` to `done` stamps `completed_at`; back to `open` clears it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    #[schema(min_length = 1, max_length = 300)]
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub task_type: Option<TaskType>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub due_at: Option<DateTime<Utc>>,
    pub assignee_id: Option<i64>,
    pub status: Option<TaskStatus>,
    /// An activity of the task's client that completed it.
    pub completed_activity_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskSort {
    DueAt,
    CreatedAt,
}

pub const TASK_SORTS: &[(&str, TaskSort)] = &[("due_at", TaskSort::DueAt), ("created_at", TaskSort::CreatedAt)];

#[derive(Debug, Default, Clone)]
pub struct TaskFilter {
    pub owner_only: Option<i64>,
    pub assignee_id: Option<i64>,
    pub status: Option<TaskStatus>,
    pub task_type: Option<TaskType>,
    pub client_id: Option<i64>,
    pub deal_id: Option<i64>,
    /// `[from, to)` on `due_at`.
    pub due_from: Option<NaiveDateTime>,
    pub due_to: Option<NaiveDateTime>,
}

/// Tasks a manager may see: assigned to them, or about clients they own.
macro_rules! visible_tasks {
    ($owner_only:expr) => {{
        let mut q = tasks::table.select(tasks::all_columns).into_boxed::<Db>();
        if let Some(me) = $owner_only {
            let own_clients = crate::clients::visibility::owned_by(me);
            q = q.filter(tasks::assignee_id.eq(me).or(tasks::client_id.assume_not_null().eq_any(own_clients)));
        }
        q
    }};
}

pub fn get(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<Task, ApiError> {
    let row: TaskRow = visible_tasks!(owner_only).filter(tasks::id.eq(id)).first(conn)?;
    Ok(row.into())
}

pub fn list(
    conn: &mut DbConn,
    f: &TaskFilter,
    sort: Sort<TaskSort>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<Task>, ApiError> {
    let tag = sort.tag(TASK_SORTS);
    let mut q = visible_tasks!(f.owner_only);
    if let Some(v) = f.assignee_id {
        q = q.filter(tasks::assignee_id.eq(v));
    }
    if let Some(v) = f.status {
        q = q.filter(tasks::status.eq(v.as_str()));
    }
    if let Some(v) = f.task_type {
        q = q.filter(tasks::task_type.eq(v.as_str()));
    }
    if let Some(v) = f.client_id {
        q = q.filter(tasks::client_id.eq(v));
    }
    if let Some(v) = f.deal_id {
        q = q.filter(tasks::deal_id.eq(v));
    }
    if let Some(v) = f.due_from {
        q = q.filter(tasks::due_at.ge(v));
    }
    if let Some(v) = f.due_to {
        q = q.filter(tasks::due_at.lt(v));
    }
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, &tag)?;
        q = match sort.field {
            TaskSort::DueAt => keyset!(q, tasks::due_at, tasks::id, c.timestamp()?, c.id, sort.desc),
            TaskSort::CreatedAt => keyset!(q, tasks::created_at, tasks::id, c.timestamp()?, c.id, sort.desc),
        };
    }
    q = match sort.field {
        TaskSort::DueAt => order_keyset!(q, tasks::due_at, tasks::id, sort.desc),
        TaskSort::CreatedAt => order_keyset!(q, tasks::created_at, tasks::id, sort.desc),
    };
    let rows: Vec<TaskRow> = q.limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor {
        sort: tag.clone(),
        key: pagination::ts_key(match sort.field {
            TaskSort::DueAt => r.due_at,
            TaskSort::CreatedAt => r.created_at,
        }),
        id: r.id,
    })
    .map(Task::from))
}

fn check_title(title: &str, errors: &mut FieldErrors) {
    let n = title.trim().chars().count();
    errors.check((1..=300).contains(&n), "title", "must be 1 to 300 characters");
}

fn check_assignee(
    conn: &mut DbConn,
    assignee: Option<i64>,
    actor: &Caller,
    errors: &mut FieldErrors,
) -> QueryResult<()> {
    if let Some(me) = actor.own_clients_only() {
        errors.check(assignee == Some(me), "assignee_id", "a manager assigns tasks to themselves only");
    }
    if let Some(id) = assignee {
        let active: Option<bool> = users::table.find(id).select(users::active).first(conn).optional()?;
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

pub fn create(conn: &mut DbConn, input: NewTask, actor: &Caller) -> Result<Task, ApiError> {
    let mut errors = FieldErrors::new();
    check_title(&input.title, &mut errors);
    let assignee = input.assignee_id.or(actor.user_id);
    check_assignee(conn, assignee, actor, &mut errors)?;
    let client_id = check_links(conn, input.client_id, input.deal_id, actor, &mut errors)?;
    errors.into_result()?;
    let at = now();
    let row: TaskRow = diesel::insert_into(tasks::table)
        .values((
            tasks::title.eq(input.title.trim()),
            tasks::task_type.eq(input.task_type.as_str()),
            tasks::description.eq(input.description.map(|d| d.trim().to_string()).filter(|d| !d.is_empty())),
            tasks::due_at.eq(input.due_at.naive_utc()),
            tasks::assignee_id.eq(assignee),
            tasks::client_id.eq(client_id),
            tasks::deal_id.eq(input.deal_id),
            tasks::status.eq(TaskStatus::Open.as_str()),
            tasks::created_by.eq(actor.origin().actor),
            tasks::version.eq(1i64),
            tasks::created_at.eq(at),
            tasks::updated_at.eq(at),
        ))
        .returning(tasks::all_columns)
        .get_result(conn)?;
    let task = Task::from(row);
    events::record(
        conn,
        &actor.origin(),
        NewEvent {
            event_type: "task.created",
            entity_type: ENTITY,
            entity_id: task.id,
            payload: events::payload(&task),
        },
    )?;
    Ok(task)
}

#[derive(AsChangeset)]
#[diesel(table_name = tasks)]
struct TaskChanges {
    title: Option<String>,
    task_type: Option<String>,
    description: Option<Option<String>>,
    due_at: Option<NaiveDateTime>,
    assignee_id: Option<Option<i64>>,
    status: Option<String>,
    completed_at: Option<Option<NaiveDateTime>>,
    completed_activity_id: Option<Option<i64>>,
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: TaskPatch,
    expected: Option<i64>,
    actor: &Caller,
) -> Result<Task, ApiError> {
    let current = get(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    let mut errors = FieldErrors::new();
    if let Some(t) = &patch.title {
        check_title(t, &mut errors);
    }
    if let Some(a) = patch.assignee_id.filter(|a| Some(*a) != current.assignee_id) {
        check_assignee(conn, Some(a), actor, &mut errors)?;
    }
    if let Some(activity) = patch.completed_activity_id {
        let client: Option<i64> = activities::table
            .filter(activities::id.eq(activity))
            .filter(activities::deleted_at.is_null())
            .select(activities::client_id)
            .first(conn)
            .optional()?;
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
    let row: TaskRow = diesel::update(tasks::table.filter(tasks::id.eq(id)).filter(tasks::version.eq(current.version)))
        .set((changes, tasks::version.eq(current.version + 1), tasks::updated_at.eq(now())))
        .returning(tasks::all_columns)
        .get_result(conn)
        .at_read_version()?;
    let task = Task::from(row);
    let event_type = if current.status != TaskStatus::Done && task.status == TaskStatus::Done {
        "task.completed"
    } else {
        "task.updated"
    };
    events::record(
        conn,
        &actor.origin(),
        NewEvent { event_type, entity_type: ENTITY, entity_id: task.id, payload: events::payload(&task) },
    )?;
    Ok(task)
}

/// Tasks by id, for the timeline (one query).
pub fn by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Task>> {
    let rows: Vec<TaskRow> = tasks::table.filter(tasks::id.eq_any(ids)).select(TaskRow::as_select()).load(conn)?;
    Ok(rows.into_iter().map(Task::from).collect())
}

/// Deletes an open or cancelled task; done tasks are part of the client's history and stay.
pub fn delete(conn: &mut DbConn, id: i64, expected: Option<i64>, actor: &Caller) -> Result<(), ApiError> {
    let current = get(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    if current.status == TaskStatus::Done {
        return Err(ApiError::Conflict("a done task is part of the client's history and cannot be deleted".into()));
    }
    diesel::delete(tasks::table.find(id)).execute(conn)?;
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

/// A task to create for a client's owner.
#[derive(Debug, Clone)]
pub struct Planned {
    pub client_id: i64,
    pub assignee_id: i64,
    pub title: String,
    pub description: Option<String>,
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
    let open: std::collections::HashSet<i64> = tasks::table
        .filter(tasks::task_type.eq(task_type.as_str()))
        .filter(tasks::status.eq(TaskStatus::Open.as_str()))
        .filter(tasks::client_id.eq_any(&ids))
        .select(tasks::client_id)
        .load::<Option<i64>>(conn)?
        .into_iter()
        .flatten()
        .collect();
    let at = now();
    let mut created = Vec::new();
    let mut already_open = 0;
    for p in planned {
        if open.contains(&p.client_id) {
            already_open += 1;
            continue;
        }
        let row: TaskRow = diesel::insert_into(tasks::table)
            .values((
                tasks::title.eq(&p.title),
                tasks::task_type.eq(task_type.as_str()),
                tasks::description.eq(&p.description),
                tasks::due_at.eq(at),
                tasks::assignee_id.eq(Some(p.assignee_id)),
                tasks::client_id.eq(Some(p.client_id)),
                tasks::status.eq(TaskStatus::Open.as_str()),
                tasks::created_by.eq(origin.actor.clone()),
                tasks::version.eq(1i64),
                tasks::created_at.eq(at),
                tasks::updated_at.eq(at),
            ))
            .returning(tasks::all_columns)
            .get_result(conn)?;
        let task = Task::from(row);
        events::record(
            conn,
            origin,
            NewEvent {
                event_type: "task.created",
                entity_type: ENTITY,
                entity_id: task.id,
                payload: events::payload(&task),
            },
        )?;
        created.push(task.id);
    }
    Ok((created, already_open))
}
