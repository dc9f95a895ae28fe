//! Tasks as stored and as the API reads and writes them: the row, the task, its type and
//! status, the create and change bodies, list filters and sorts, and the title rule.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::tasks;
use crate::error::FieldErrors;
use crate::patch::double_option;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    CallBack,
    Meeting,
    SendProposal,
    Reactivation,
    PostSale,
    PaymentFollowUp,
    /// Greet a contact on a birthday or a client before a holiday.
    Congratulate,
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
    Congratulate = "congratulate",
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

/// A task to create for a client's owner.
#[derive(Debug, Clone)]
pub struct Planned {
    pub client_id: i64,
    pub assignee_id: i64,
    pub title: String,
    pub description: Option<String>,
}

/// The values of a new task, as written.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = tasks, treat_none_as_null = true)]
pub(super) struct TaskInsert {
    pub(super) title: String,
    pub(super) task_type: String,
    pub(super) description: Option<String>,
    pub(super) due_at: NaiveDateTime,
    pub(super) assignee_id: Option<i64>,
    pub(super) client_id: Option<i64>,
    pub(super) deal_id: Option<i64>,
    pub(super) status: String,
    pub(super) created_by: Option<String>,
    pub(super) version: i64,
    pub(super) created_at: NaiveDateTime,
    pub(super) updated_at: NaiveDateTime,
}

impl TaskInsert {
    pub(super) fn into_row(self, id: i64) -> TaskRow {
        TaskRow {
            id,
            title: self.title,
            task_type: self.task_type,
            description: self.description,
            due_at: self.due_at,
            assignee_id: self.assignee_id,
            client_id: self.client_id,
            deal_id: self.deal_id,
            status: self.status,
            completed_at: None,
            completed_activity_id: None,
            created_by: self.created_by,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A task a rule creates on its own (an automation), already checked by it.
#[derive(Debug, Clone)]
pub struct Generated {
    pub task_type: TaskType,
    pub title: String,
    pub description: Option<String>,
    pub due_at: NaiveDateTime,
    pub assignee_id: i64,
    pub client_id: i64,
    pub deal_id: Option<i64>,
}

#[derive(AsChangeset)]
#[diesel(table_name = tasks)]
pub(super) struct TaskChanges {
    pub(super) title: Option<String>,
    pub(super) task_type: Option<String>,
    pub(super) description: Option<Option<String>>,
    pub(super) due_at: Option<NaiveDateTime>,
    pub(super) assignee_id: Option<Option<i64>>,
    pub(super) status: Option<String>,
    pub(super) completed_at: Option<Option<NaiveDateTime>>,
    pub(super) completed_activity_id: Option<Option<i64>>,
}

pub(super) fn check_title(title: &str, errors: &mut FieldErrors) {
    let n = title.trim().chars().count();
    errors.check((1..=300).contains(&n), "title", "must be 1 to 300 characters");
}
