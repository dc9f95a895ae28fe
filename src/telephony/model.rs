//! Telephony's types: the screen pop's answer (the clients, contact persons, owners, open deals
//! and tasks behind a number), the PBX's call events and what logging one gives back.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::activities::Direction;

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
pub(crate) struct Owning {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub owner_id: Option<i64>,
    pub updated_at: chrono::NaiveDateTime,
    pub contact_id: Option<i64>,
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
    #[schema(min_length = 1, max_length = 190, pattern = r"\S")]
    pub call_id: String,
    pub direction: Direction,
    /// The calling number, in any format, with at least five digits (as every phone).
    #[schema(pattern = "[0-9]([^0-9]*[0-9]){4}")]
    pub from: String,
    /// The called number, likewise.
    #[schema(pattern = "[0-9]([^0-9]*[0-9]){4}")]
    pub to: String,
    pub status: Option<CallStatus>,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    #[schema(minimum = 0, maximum = 86400)]
    pub duration_seconds: Option<i32>,
    /// An http(s) URL.
    #[schema(pattern = "^https?://", max_length = 2000)]
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
