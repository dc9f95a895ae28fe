//! Automations as stored and as the API reads and writes them: the trigger (a schedule or
//! event types), the conditions a subject must meet, the actions taken on it, the runs and
//! what a run did or would do.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clients::model::ClientStatus;
use crate::db::schema::{automation_runs, automations};
use crate::pipelines::StageKind;
use crate::segments::model::SegmentFilter;
use crate::tasks::TaskType;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = automations)]
pub struct AutomationRow {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub enabled: bool,
    pub builtin: bool,
    pub trigger: String,
    pub conditions: String,
    pub actions: String,
    pub enabled_at: Option<NaiveDateTime>,
    pub cursor_txid: i64,
    pub cursor_id: i64,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
}

/// How often a schedule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Every {
    Day,
    Week,
    Month,
    /// On the listed `dates` each year.
    Year,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// What a scheduled automation goes over: every client, deal or contact person of the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    #[default]
    Client,
    /// Open deals.
    Deal,
    /// Contact persons of live clients.
    Contact,
}

/// A day of the year a yearly schedule fires on, and what it is for (`{{occasion}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct YearlyDate {
    /// `MM-DD`, e.g. `02-16`.
    #[schema(
        example = "02-16",
        pattern = "^((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-9])|(0[13-9]|1[0-2])-30|(0[13578]|1[02])-31)$"
    )]
    pub on: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 200)]
    pub occasion: Option<String>,
}

/// Fires at `at` local time in `time_zone`, every day, week (on `weekday`, default Monday),
/// month (on `day_of_month`, default 1; the last day when the month is shorter) or year (on
/// `dates`). A missed slot (the servers were down) runs once when they are back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTrigger {
    pub every: Every,
    /// `HH:MM` or `HH:MM:SS`, local time.
    #[schema(example = "06:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")]
    pub at: String,
    /// An IANA time zone (default `UTC`).
    #[serde(default = "utc")]
    #[schema(example = "Europe/Moscow")]
    pub time_zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekday: Option<Weekday>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 31)]
    pub day_of_month: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 50)]
    pub dates: Option<Vec<YearlyDate>>,
    #[serde(default)]
    pub subject: SubjectKind,
}

/// 1 to 30 of the event types the base emits (`crate::webhooks::model::EVENT_TYPES`).
fn event_types_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let item = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(crate::webhooks::model::EVENT_TYPES.iter().copied()));
    ArrayBuilder::new()
        .items(item)
        .min_items(Some(1))
        .max_items(Some(30))
        .examples([serde_json::json!(["deal.stage_changed", "sale.created"])])
        .build()
}

fn utc() -> String {
    "UTC".into()
}

/// Reacts within seconds to events of these types (the ones webhooks deliver).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTrigger {
    #[schema(schema_with = event_types_schema)]
    pub event_types: Vec<String>,
}

/// What sets an automation off; `type` says which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    Schedule(ScheduleTrigger),
    Event(EventTrigger),
}

impl utoipa::PartialSchema for Trigger {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::tagged_one_of(
            "type",
            vec![("schedule", ScheduleTrigger::schema()), ("event", EventTrigger::schema())],
        )
    }
}

impl ToSchema for Trigger {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <ScheduleTrigger as ToSchema>::schemas(schemas);
        <EventTrigger as ToSchema>::schemas(schemas);
    }
}

/// Conditions on the subject's client, beyond the segment vocabulary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientConditions {
    /// At least this many days since the last purchase (clients that bought).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 36500)]
    pub days_since_last_purchase_min: Option<i64>,
    /// The reactivation rule: active clients silent for more than this factor × their own
    /// purchase interval (the base's median for a single purchase day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0, maximum = 100)]
    pub purchase_overdue_factor: Option<f64>,
    /// At least this many days since the last activity (or since the card was created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 36500)]
    pub days_since_last_contact_min: Option<i64>,
    /// Lost for at least this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 36500)]
    pub lost_for_days_min: Option<i64>,
}

/// Conditions on a deal subject (a scheduled deal automation or a `deal.*` event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealConditions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub pipeline_id: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 100)]
    pub stage_id: Option<Vec<i64>>,
    /// Stage names, compared without regard to case (`Invoice issued`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_name: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_kind: Option<Vec<StageKind>>,
    /// In its current stage for at least this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 36500)]
    pub days_in_stage_min: Option<i64>,
    /// A decimal amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub amount_min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub amount_max: Option<String>,
}

/// Conditions on a contact person subject.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactConditions {
    /// The next birthday is at most this many days away (0: today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 366)]
    pub birthday_within_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_maker: Option<bool>,
}

/// Conditions on a sale (a `sale.*` event).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleConditions {
    /// The client's first sale (true) or a repeat one (false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_of_client: Option<bool>,
}

/// Conditions on the event itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventConditions {
    /// `deal.*` events: the kind of the stage the deal is in after the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_stage_kind: Option<Vec<StageKind>>,
    /// `client.status_changed`: the new status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_status: Option<Vec<ClientStatus>>,
    /// `client.status_changed`: the previous status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_status: Option<Vec<ClientStatus>>,
}

/// All the conditions given must hold. A group about an entity (deal, contact, sale) applies to
/// subjects of that entity: an event automation over several event types checks each event
/// against the groups of its entity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// The subject's client, in the vocabulary of segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_filter: Option<SegmentFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientConditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal: Option<DealConditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactConditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale: Option<SaleConditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventConditions>,
}

/// Who gets a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssigneeRule {
    /// The client's owner.
    Owner,
    /// The deal's owner (the client's when the deal has none).
    DealOwner,
    /// The user who took or missed the call (`call.*` events).
    CallUser,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Assignee {
    Rule(AssigneeRule),
    /// A user id.
    User(i64),
}

/// A task for the subject. `title` and `description` may hold placeholders such as
/// `{{client.name}}`, `{{deal.title}}`, `{{contact.name}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    #[serde(rename = "type")]
    pub task_type: TaskType,
    /// Not blank.
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Due this long after the run's instant, an ISO 8601 duration: `P1D`, `PT4H`, `P1DT2H`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        example = "P1D",
        pattern = "^P([0-9]{1,3}D|[0-9]{1,2}W|T[0-9]{1,2}H|T[0-9]{1,2}M|[0-9]{1,3}DT[0-9]{1,2}H)$"
    )]
    pub due_in: Option<String>,
    /// On the due day at this local time (`HH:MM`, in the schedule's time zone, else UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "10:00", pattern = "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")]
    pub at: Option<String>,
    pub assignee: Assignee,
    /// Whom the task goes to when the assignee is missing or no longer active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_assignee_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetClientStatus {
    pub status: ClientStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 500)]
    pub lost_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagAction {
    /// Not blank.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub tag: String,
}

/// Records an event of this type (it must start with `automation.`) with the subject's card,
/// delivered by the signed webhooks that subscribe to it: a mailing provider, a messenger bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmitEvent {
    #[schema(example = "automation.reactivation_due", pattern = "^automation\\.[a-z0-9_.]{1,100}$")]
    pub event_type: String,
}

/// One action; `action` says which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    CreateTask(CreateTask),
    SetClientStatus(SetClientStatus),
    AddTag(TagAction),
    RemoveTag(TagAction),
    EmitEvent(EmitEvent),
}

impl utoipa::PartialSchema for Action {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::tagged_one_of(
            "action",
            vec![
                ("create_task", CreateTask::schema()),
                ("set_client_status", SetClientStatus::schema()),
                ("add_tag", TagAction::schema()),
                ("remove_tag", TagAction::schema()),
                ("emit_event", EmitEvent::schema()),
            ],
        )
    }
}

impl ToSchema for Action {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        <CreateTask as ToSchema>::schemas(schemas);
        <SetClientStatus as ToSchema>::schemas(schemas);
        <EmitEvent as ToSchema>::schemas(schemas);
    }
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::CreateTask(_) => "create_task",
            Action::SetClientStatus(_) => "set_client_status",
            Action::AddTag(_) => "add_tag",
            Action::RemoveTag(_) => "remove_tag",
            Action::EmitEvent(_) => "emit_event",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Automation {
    pub id: i64,
    /// Unique and stable, e.g. `payment_follow_up`.
    pub key: String,
    pub name: String,
    pub enabled: bool,
    /// One of the playbooks clientbase ships.
    pub builtin: bool,
    pub trigger: Trigger,
    pub conditions: Conditions,
    pub actions: Vec<Action>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Automation {
    /// The actor its changes carry in events, the timeline and the audit log.
    pub fn actor(&self) -> String {
        format!("automation:{}", self.key)
    }
}

impl TryFrom<AutomationRow> for Automation {
    type Error = serde_json::Error;

    fn try_from(r: AutomationRow) -> Result<Automation, serde_json::Error> {
        Ok(Automation {
            id: r.id,
            key: r.key,
            name: r.name,
            enabled: r.enabled,
            builtin: r.builtin,
            trigger: serde_json::from_str(&r.trigger)?,
            conditions: serde_json::from_str(&r.conditions)?,
            actions: serde_json::from_str(&r.actions)?,
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAutomation {
    /// Lower-case letters, digits and `_`, 1 to 64.
    #[schema(min_length = 1, max_length = 64, pattern = "^[a-z][a-z0-9_]*$")]
    pub key: String,
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Off by default.
    #[serde(default)]
    pub enabled: bool,
    pub trigger: Trigger,
    #[serde(default)]
    pub conditions: Conditions,
    #[schema(min_items = 1, max_items = 20)]
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomationPatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub trigger: Option<Trigger>,
    /// Replaces all the conditions.
    pub conditions: Option<Conditions>,
    /// Replaces all the actions.
    #[schema(min_items = 1, max_items = 20)]
    pub actions: Option<Vec<Action>>,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    Schedule,
    Manual,
    Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Under way, or abandoned by a process that died and about to be resumed.
    Running,
    Finished,
}

crate::text_enum!(RunTrigger { Schedule = "schedule", Manual = "manual", Event = "event" } else Manual);
crate::text_enum!(RunStatus { Running = "running", Finished = "finished" } else Running);

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = automation_runs)]
pub struct RunRow {
    pub id: i64,
    pub automation_id: i64,
    pub trigger: String,
    pub occurrence: String,
    pub as_of: NaiveDateTime,
    pub status: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub lease_until: Option<NaiveDateTime>,
    pub subjects_matched: i64,
    pub processed: i64,
    pub skipped: i64,
    pub actions_taken: String,
    pub errors: String,
    pub error_count: i64,
}

/// A subject an action could not be taken on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunError {
    /// `client:12`, `deal:5`…
    pub subject: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Run {
    pub id: i64,
    pub automation_id: i64,
    pub trigger: RunTrigger,
    /// The slot's day (`2027-01-15`), `manual:…` or the events read (`events:…`).
    pub occurrence: String,
    /// The instant the conditions were evaluated as of.
    pub as_of: DateTime<Utc>,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Subjects that met the conditions.
    pub subjects_matched: i64,
    /// Of them, those already acted on in this occurrence or with the task still open.
    pub skipped: i64,
    /// Actions taken, by kind.
    pub actions_taken: BTreeMap<String, i64>,
    pub error_count: i64,
    /// The first errors (at most 50).
    pub errors: Vec<RunError>,
}

impl From<RunRow> for Run {
    fn from(r: RunRow) -> Run {
        Run {
            id: r.id,
            automation_id: r.automation_id,
            trigger: RunTrigger::parse(&r.trigger),
            occurrence: r.occurrence,
            as_of: r.as_of.and_utc(),
            status: RunStatus::parse(&r.status),
            started_at: r.started_at.and_utc(),
            finished_at: r.finished_at.map(|t| t.and_utc()),
            subjects_matched: r.subjects_matched,
            skipped: r.skipped,
            actions_taken: serde_json::from_str(&r.actions_taken).unwrap_or_default(),
            error_count: r.error_count,
            errors: serde_json::from_str(&r.errors).unwrap_or_default(),
        }
    }
}

/// An action as a dry run shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlannedAction {
    pub action: String,
    /// The task's title, the status or tag set, the event type.
    pub detail: String,
    /// The task's assignee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
}

/// A subject a dry run would act on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlannedSubject {
    /// `client:12`, `deal:5`, `contact:3`.
    pub subject: String,
    pub client_id: i64,
    pub client_name: String,
    /// The occurrence it would be acted on in (once).
    pub occurrence: String,
    pub actions: Vec<PlannedAction>,
}

/// What `POST /automations/{id}/run` did, or with `dry_run` would do.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunOutcome {
    pub dry_run: bool,
    pub as_of: DateTime<Utc>,
    /// The run recorded (absent for a dry run).
    pub run: Option<Run>,
    pub subjects_matched: i64,
    /// Already acted on in this occurrence, or with the task still open.
    pub skipped: i64,
    /// Actions taken (or that would be), by kind.
    pub actions: BTreeMap<String, i64>,
    /// A dry run's subjects and actions (the first 200).
    pub preview: Vec<PlannedSubject>,
}

#[cfg(test)]
mod tests {
    use super::super::schedule;
    use super::*;
    use utoipa::PartialSchema;

    fn pattern<T: PartialSchema>(property: &str) -> regex::Regex {
        let schema = serde_json::to_value(T::schema()).unwrap();
        regex::Regex::new(schema["properties"][property]["pattern"].as_str().unwrap()).unwrap()
    }

    /// What the declared patterns accept, the schedule's parsers read.
    #[test]
    fn declared_patterns_accept_only_what_the_rules_read() {
        let at = pattern::<ScheduleTrigger>("at");
        let task_at = pattern::<CreateTask>("at");
        let on = pattern::<YearlyDate>("on");
        for (a, b) in (0..100).flat_map(|a| (0..100).map(move |b| (a, b))) {
            let time = format!("{a:02}:{b:02}");
            assert_eq!(at.is_match(&time), schedule::parse_time(&time).is_some(), "{time}");
            assert_eq!(task_at.is_match(&time), schedule::parse_time(&time).is_some(), "{time}");
            assert!(!at.is_match(&format!("{time}:60")), "{time}");
            let day = format!("{a:02}-{b:02}");
            assert_eq!(on.is_match(&day), schedule::parse_month_day(&day).is_some(), "{day}");
        }
        let due_in = pattern::<CreateTask>("due_in");
        for n in 0..1000 {
            for text in [
                format!("P{n}D"),
                format!("P{n}W"),
                format!("PT{n}H"),
                format!("PT{n}M"),
                format!("P{n}DT{}H", n % 100),
            ] {
                if due_in.is_match(&text) {
                    assert!(schedule::parse_duration(&text).is_ok(), "{text}");
                }
            }
        }
        assert!(due_in.is_match("P1DT2H") && !due_in.is_match("P1M") && !due_in.is_match("P1Y"));
        let emitted = pattern::<EmitEvent>("event_type");
        assert!(emitted.is_match("automation.reactivation_due") && !emitted.is_match("automation."));
    }
}
