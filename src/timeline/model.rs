//! What a timeline holds: the kinds of entry and the entries themselves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::activities::Activity;
use crate::campaigns::RecipientStatus;
use crate::sales::Sale;
use crate::tasks::Task;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Activity,
    DealCreated,
    DealStageChanged,
    TaskCompleted,
    Purchase,
    Campaign,
}

crate::text_enum!(EntryKind {
    Activity = "activity",
    DealCreated = "deal_created",
    DealStageChanged = "deal_stage_changed",
    TaskCompleted = "task_completed",
    Purchase = "purchase",
    Campaign = "campaign",
});

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DealRef {
    pub id: i64,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageRef {
    pub id: i64,
    pub name: String,
}

/// One entry of a client's timeline, tagged by `type`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimelineEntry {
    Activity {
        occurred_at: DateTime<Utc>,
        activity: Activity,
    },
    DealCreated {
        occurred_at: DateTime<Utc>,
        deal: DealRef,
        stage: StageRef,
        changed_by: Option<String>,
    },
    DealStageChanged {
        occurred_at: DateTime<Utc>,
        deal: DealRef,
        from_stage: StageRef,
        to_stage: StageRef,
        changed_by: Option<String>,
    },
    TaskCompleted {
        occurred_at: DateTime<Utc>,
        task: Task,
    },
    Purchase {
        occurred_at: DateTime<Utc>,
        sale: Sale,
    },
    /// A mailing provider reported on a campaign sent to the client.
    Campaign {
        occurred_at: DateTime<Utc>,
        campaign: CampaignRef,
        status: RecipientStatus,
        detail: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignRef {
    pub id: i64,
    pub name: String,
}
