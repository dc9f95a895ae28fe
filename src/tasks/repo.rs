//! Task storage: reads limited to the tasks the caller may see, the writes, and the lookups the
//! task rules need (an assignee's state, an activity's client, the open tasks of a type).

use std::collections::HashSet;

use diesel::prelude::*;

use super::model::{Task, TaskChanges, TaskFilter, TaskInsert, TaskRow, TaskSort, TaskStatus, TaskType, TASK_SORTS};
use crate::db::schema::{activities, tasks, users};
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{self, page_from, Cursor, Page, Sort};
use crate::versioning::AtReadVersion;
use crate::{keyset, order_keyset};

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

/// Tasks by id, for the timeline (one query).
pub fn by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Task>> {
    let rows: Vec<TaskRow> = tasks::table.filter(tasks::id.eq_any(ids)).select(TaskRow::as_select()).load(conn)?;
    Ok(rows.into_iter().map(Task::from).collect())
}

pub(super) fn insert(conn: &mut DbConn, row: TaskInsert) -> QueryResult<TaskRow> {
    diesel::insert_into(tasks::table).values(row).returning(tasks::all_columns).get_result(conn)
}

/// Inserts many tasks with ids taken first, a statement per 1000; returns them as written.
pub(super) fn insert_many(conn: &mut DbConn, rows: Vec<TaskInsert>) -> QueryResult<Vec<TaskRow>> {
    let ids = crate::db::allocate_ids(conn, "tasks", rows.len())?;
    let values: Vec<_> = ids.iter().zip(&rows).map(|(id, r)| (tasks::id.eq(*id), r.clone())).collect();
    for chunk in values.chunks(1000) {
        crate::with_backend!(conn, |c| diesel::insert_into(tasks::table).values(chunk).execute(c))?;
    }
    Ok(ids.into_iter().zip(rows).map(|(id, r)| r.into_row(id)).collect())
}

/// Which of `deal_ids` already have an open task of `task_type`.
pub(super) fn deals_with_open(conn: &mut DbConn, task_type: TaskType, deal_ids: &[i64]) -> QueryResult<HashSet<i64>> {
    Ok(tasks::table
        .filter(tasks::task_type.eq(task_type.as_str()))
        .filter(tasks::status.eq(TaskStatus::Open.as_str()))
        .filter(tasks::deal_id.eq_any(deal_ids))
        .select(tasks::deal_id)
        .load::<Option<i64>>(conn)?
        .into_iter()
        .flatten()
        .collect())
}

/// Writes `changes` to the task if it is still at `version` the caller read.
pub(super) fn update_at(conn: &mut DbConn, id: i64, version: i64, changes: TaskChanges) -> Result<TaskRow, ApiError> {
    diesel::update(tasks::table.filter(tasks::id.eq(id)).filter(tasks::version.eq(version)))
        .set((changes, tasks::version.eq(version + 1), tasks::updated_at.eq(now())))
        .returning(tasks::all_columns)
        .get_result(conn)
        .at_read_version()
}

pub(super) fn delete(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::delete(tasks::table.find(id)).execute(conn)
}

/// Whether the user is active; `None` when there is no such user.
pub(super) fn user_active(conn: &mut DbConn, id: i64) -> QueryResult<Option<bool>> {
    users::table.find(id).select(users::active).first(conn).optional()
}

/// The client of a live activity; `None` when there is no such activity.
pub(super) fn activity_client(conn: &mut DbConn, activity: i64) -> QueryResult<Option<i64>> {
    activities::table
        .filter(activities::id.eq(activity))
        .filter(activities::deleted_at.is_null())
        .select(activities::client_id)
        .first(conn)
        .optional()
}

/// Which of `client_ids` already have an open task of `task_type`.
pub(super) fn with_open(conn: &mut DbConn, task_type: TaskType, client_ids: &[i64]) -> QueryResult<HashSet<i64>> {
    Ok(tasks::table
        .filter(tasks::task_type.eq(task_type.as_str()))
        .filter(tasks::status.eq(TaskStatus::Open.as_str()))
        .filter(tasks::client_id.eq_any(client_ids))
        .select(tasks::client_id)
        .load::<Option<i64>>(conn)?
        .into_iter()
        .flatten()
        .collect())
}
