//! Running an automation: the subjects that meet its conditions (over the base for a schedule,
//! from one event for an event trigger), the plan of actions for a batch of them, and carrying a
//! plan out in the batch's own transaction together with the marks that keep it from acting
//! twice. A run holds no transaction and no connection for its whole length: it reads, then
//! writes batch by batch, renewing its lease, so a process that dies mid-run leaves a run
//! another resumes, and the marks make the resumption skip what was done.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::conditions::{self, EventFacts, Facts, Judged};
use super::facts::{self, ClientFacts};
use super::model::{
    Action, Assignee, AssigneeRule, Automation, PlannedAction, PlannedSubject, RunError, ScheduleTrigger, SubjectKind,
    Trigger,
};
use super::repo::{self, Progress};
use super::schedule;
use crate::analytics::reactivation::{self, Candidate};
use crate::analytics::ReportScope;
use crate::auth::Caller;
use crate::clients::model::{Client, ClientFields, ClientStatus};
use crate::db::DbConn;
use crate::error::ApiError;
use crate::events::{self, NewEvent};
use crate::sync::repo::Change;
use crate::tasks::{self, Generated, TaskType};

/// A subject that met the conditions.
#[derive(Debug, Clone)]
pub struct Subject {
    /// `client:12`, `deal:5`, `contact:3`, `sale:9`, `activity:4`.
    pub key: String,
    pub client_id: i64,
    pub client_name: String,
    pub owner_id: Option<i64>,
    pub deal_id: Option<i64>,
    pub deal_owner: Option<i64>,
    pub call_user: Option<i64>,
    /// What it is acted on once in: its episode, or the slot or event.
    pub occurrence: String,
    pub vars: BTreeMap<&'static str, String>,
    /// Higher first: revenue at risk, historical margin.
    rank: i64,
}

impl Subject {
    /// Whether the open-task rule looks at the client, the deal, or neither (each contact
    /// person's birthday is its own).
    fn task_scope(&self) -> TaskScope {
        match self.key.split(':').next() {
            Some("deal") => TaskScope::Deal,
            Some("contact") => TaskScope::None,
            _ => TaskScope::Client,
        }
    }
}

#[derive(PartialEq)]
enum TaskScope {
    Client,
    Deal,
    None,
}

fn subject(key: String, client: &ClientFacts, judged: Judged, fallback: &str, rank: i64) -> Subject {
    Subject {
        key,
        client_id: client.id,
        client_name: client.name.clone(),
        owner_id: client.owner_id,
        deal_id: None,
        deal_owner: None,
        call_user: None,
        occurrence: judged.episode.unwrap_or_else(|| fallback.to_string()),
        vars: judged.vars,
        rank,
    }
}

/// The time zone the automation reads local times in.
pub fn zone(a: &Automation) -> Tz {
    schedule::zone_of(match &a.trigger {
        Trigger::Schedule(s) => Some(s),
        Trigger::Event(_) => None,
    })
}

/// The clients due under the reactivation rule as of `today`, by id.
fn overdue(conn: &mut DbConn, factor: f64, today: NaiveDate) -> Result<HashMap<i64, Candidate>, ApiError> {
    let scope = ReportScope { from: today, to: today, channel: None, owner_id: None, region: None };
    let rhythms = crate::analytics::repo::rhythms(conn, &scope, today)?;
    Ok(reactivation::candidates(rhythms, today, factor).0.into_iter().map(|c| (c.client_id, c)).collect())
}

/// The subjects of a scheduled (or manual) run evaluated as of `as_of`; `slot` is the
/// occurrence of the subjects without an episode of their own.
pub fn scheduled(
    conn: &mut DbConn,
    a: &Automation,
    s: &ScheduleTrigger,
    as_of: DateTime<Utc>,
    slot: &str,
    occasion: Option<&str>,
) -> Result<Vec<Subject>, ApiError> {
    let zone = schedule::zone_of(Some(s));
    let today = as_of.with_timezone(&zone).date_naive();
    let at = as_of.naive_utc();
    let c = &a.conditions;
    let cc = c.client.clone().unwrap_or_default();
    let in_filter: Option<HashSet<i64>> = match &c.client_filter {
        Some(f) => Some(crate::segments::service::members_within(conn, f, None, None, today)?.into_iter().collect()),
        None => None,
    };
    let due = match cc.purchase_overdue_factor {
        Some(factor) => overdue(conn, factor, today)?,
        None => HashMap::new(),
    };
    let contact_until = cc.days_since_last_contact_min.map(|_| at);
    let lost = cc.lost_for_days_min.is_some();
    let allowed = |id: i64| in_filter.as_ref().is_none_or(|set| set.contains(&id));
    let mut out = Vec::new();
    match s.subject {
        SubjectKind::Client => {
            let ids: Option<Vec<i64>> = in_filter.as_ref().map(|set| set.iter().copied().collect());
            let clients = facts::clients(conn, ids.as_deref(), contact_until, lost)?;
            for client in clients.values() {
                let f = Facts::of_client(client, allowed(client.id), due.get(&client.id), occasion);
                if let Some(j) = conditions::judge(c, &f, as_of, zone) {
                    let rank = due.get(&client.id).map_or(client.margin_total, |d| d.at_risk_minor);
                    out.push(subject(format!("client:{}", client.id), client, j, slot, rank));
                }
            }
        }
        SubjectKind::Deal => {
            let open_only = c.deal.as_ref().is_none_or(|d| d.stage_kind.is_none());
            let deals = facts::deals(conn, None, open_only)?;
            let client_ids: Vec<i64> = deals.iter().map(|d| d.client_id).collect::<HashSet<_>>().into_iter().collect();
            let clients = facts::clients(conn, Some(&client_ids), contact_until, lost)?;
            for deal in &deals {
                let Some(client) = clients.get(&deal.client_id) else { continue };
                let f = Facts {
                    deal: Some(deal),
                    ..Facts::of_client(client, allowed(client.id), due.get(&client.id), occasion)
                };
                if let Some(j) = conditions::judge(c, &f, as_of, zone) {
                    let mut s = subject(format!("deal:{}", deal.id), client, j, slot, deal.amount);
                    s.deal_id = Some(deal.id);
                    s.deal_owner = deal.owner_id.or(client.owner_id);
                    out.push(s);
                }
            }
        }
        SubjectKind::Contact => {
            let with_birthday = c.contact.as_ref().is_some_and(|cc| cc.birthday_within_days.is_some());
            let contacts = facts::contacts(conn, None, with_birthday)?;
            let client_ids: Vec<i64> =
                contacts.iter().map(|c| c.client_id).collect::<HashSet<_>>().into_iter().collect();
            let clients = facts::clients(conn, Some(&client_ids), contact_until, lost)?;
            for contact in &contacts {
                let Some(client) = clients.get(&contact.client_id) else { continue };
                let f = Facts {
                    contact: Some(contact),
                    ..Facts::of_client(client, allowed(client.id), due.get(&client.id), occasion)
                };
                if let Some(j) = conditions::judge(c, &f, as_of, zone) {
                    out.push(subject(format!("contact:{}", contact.id), client, j, slot, 0));
                }
            }
        }
    }
    out.sort_by(|a, b| b.rank.cmp(&a.rank).then_with(|| a.key.cmp(&b.key)));
    Ok(out)
}

fn number(v: &serde_json::Value, field: &str) -> Option<i64> {
    v.get(field).and_then(serde_json::Value::as_i64)
}

fn text(v: &serde_json::Value, field: &str) -> Option<String> {
    v.get(field).and_then(serde_json::Value::as_str).map(str::to_string)
}

/// The subject of one event, if it meets the conditions. Events the automation itself caused
/// are not its subjects (no loops).
pub fn from_event(conn: &mut DbConn, a: &Automation, e: &Change) -> Result<Option<Subject>, ApiError> {
    if e.actor.as_deref() == Some(a.actor().as_str()) {
        return Ok(None);
    }
    let payload: serde_json::Value = serde_json::from_str(e.data.get()).unwrap_or_default();
    let c = &a.conditions;
    let cc = c.client.clone().unwrap_or_default();
    let mut ev = EventFacts { id: e.id, event_type: e.event_type.clone(), ..Default::default() };
    let (mut deal, mut contact, mut first_sale) = (None, None, None);
    let client_id = match e.entity_type.as_str() {
        "client" => Some(e.entity_id),
        "deal" => {
            deal = facts::deals(conn, Some(&[e.entity_id]), false)?.pop();
            deal.as_ref().map(|d| d.client_id)
        }
        "contact" => {
            contact = facts::contacts(conn, Some(&[e.entity_id]), false)?.pop();
            contact.as_ref().map(|c| c.client_id)
        }
        "sale" => {
            first_sale = facts::first_sale(conn, e.entity_id)?;
            number(&payload, "client_id")
        }
        _ => number(&payload, "client_id"),
    };
    let Some(client_id) = client_id else { return Ok(None) };
    if let Some(stage) = number(&payload, "stage_id").filter(|_| e.entity_type == "deal") {
        ev.to_stage_kind = facts::stage_kind(conn, stage)?;
    }
    if e.event_type == "client.status_changed" {
        ev.to_status = text(&payload, "status");
        ev.from_status = text(&payload, "from_status");
    }
    if e.event_type.starts_with("call.") {
        ev.call_number = text(&payload, "number");
        ev.call_user = number(&payload, "user_id");
    }
    let in_filter = match &c.client_filter {
        Some(f) => {
            let today = e.occurred_at.with_timezone(&zone(a)).date_naive();
            !crate::segments::service::members_within(conn, f, None, Some(&[client_id]), today)?.is_empty()
        }
        None => true,
    };
    let at = e.occurred_at.naive_utc();
    let clients = facts::clients(
        conn,
        Some(&[client_id]),
        cc.days_since_last_contact_min.map(|_| at),
        cc.lost_for_days_min.is_some(),
    )?;
    let Some(client) = clients.get(&client_id) else { return Ok(None) };
    let f = Facts {
        client,
        in_filter,
        deal: deal.as_ref(),
        contact: contact.as_ref(),
        first_sale,
        event: Some(&ev),
        due: None,
        occasion: None,
    };
    let Some(j) = conditions::judge(c, &f, e.occurred_at, zone(a)) else { return Ok(None) };
    let mut s = subject(format!("{}:{}", e.entity_type, e.entity_id), client, j, "", 0);
    s.deal_id = deal.as_ref().map(|d| d.id);
    s.deal_owner = deal.as_ref().and_then(|d| d.owner_id).or(client.owner_id);
    s.call_user = ev.call_user;
    Ok(Some(s))
}

/// A write a plan holds.
#[derive(Debug, Clone)]
enum Step {
    Task(Generated),
    Card { client_id: i64 },
    Emit { event_type: String, subject: usize },
}

/// What a batch would do.
#[derive(Default)]
pub struct Plan {
    steps: Vec<Step>,
    /// Card changes by client: the fields to write over the card read.
    cards: HashMap<i64, (Client, ClientFields)>,
    /// The marks to write: subjects acted on (or found with their task open).
    marks: Vec<(String, String)>,
    pub progress: Progress,
    pub preview: Vec<PlannedSubject>,
}

/// Everything a plan needs besides the subjects.
pub struct Context<'a> {
    pub automation: &'a Automation,
    pub as_of: DateTime<Utc>,
    pub active_users: &'a HashSet<i64>,
    pub preview: bool,
}

fn assignee(rule: &Assignee, fallback: Option<i64>, s: &Subject, active: &HashSet<i64>) -> Option<i64> {
    let wanted = match rule {
        Assignee::User(id) => Some(*id),
        Assignee::Rule(AssigneeRule::Owner) => s.owner_id,
        Assignee::Rule(AssigneeRule::DealOwner) => s.deal_owner.or(s.owner_id),
        Assignee::Rule(AssigneeRule::CallUser) => s.call_user.or(s.owner_id),
    };
    wanted.filter(|u| active.contains(u)).or(fallback.filter(|u| active.contains(u)))
}

/// Plans the actions for a batch of subjects (reads only): the subjects already acted on in
/// their occurrence, or whose task of that type is still open, are skipped.
pub fn plan(conn: &mut DbConn, cx: &Context<'_>, subjects: &[Subject]) -> Result<Plan, ApiError> {
    let a = cx.automation;
    let mut plan = Plan::default();
    let keys: Vec<(String, String)> = subjects.iter().map(|s| (s.key.clone(), s.occurrence.clone())).collect();
    let done = repo::done(conn, a.id, &keys)?;
    let todo: Vec<(usize, &Subject)> =
        subjects.iter().enumerate().filter(|(_, s)| !done.contains(&(s.key.clone(), s.occurrence.clone()))).collect();
    plan.progress.processed = subjects.len() as i64;
    plan.progress.skipped = done.len() as i64;
    // The open tasks of each type the actions create, for the open-task rule.
    let mut open: HashMap<TaskType, (HashSet<i64>, HashSet<i64>)> = HashMap::new();
    let client_ids: Vec<i64> = todo.iter().map(|(_, s)| s.client_id).collect();
    let deal_ids: Vec<i64> = todo.iter().filter_map(|(_, s)| s.deal_id).collect();
    for action in &a.actions {
        if let Action::CreateTask(t) = action {
            if let std::collections::hash_map::Entry::Vacant(e) = open.entry(t.task_type) {
                e.insert(tasks::open_of_type(conn, t.task_type, &client_ids, &deal_ids)?);
            }
        }
    }
    let needs_cards = a.actions.iter().any(|x| !matches!(x, Action::CreateTask(_)));
    let mut cards: HashMap<i64, Client> = if needs_cards {
        facts::cards(conn, &client_ids)?.into_iter().map(|c| (c.id, c)).collect()
    } else {
        HashMap::new()
    };
    let tz = zone(a);
    for (index, s) in todo {
        let mut planned = Vec::new();
        let mut failed = false;
        let mut acted = false;
        for action in &a.actions {
            match action {
                Action::CreateTask(t) => {
                    let (clients_open, deals_open) = open.entry(t.task_type).or_default();
                    let already = match s.task_scope() {
                        TaskScope::Client => clients_open.contains(&s.client_id),
                        TaskScope::Deal => s.deal_id.is_some_and(|d| deals_open.contains(&d)),
                        TaskScope::None => false,
                    };
                    if already {
                        continue;
                    }
                    let Some(user) = assignee(&t.assignee, t.fallback_assignee_id, s, cx.active_users) else {
                        plan.progress.errors.push(RunError {
                            subject: s.key.clone(),
                            message: "no active user to assign the task to".into(),
                        });
                        failed = true;
                        continue;
                    };
                    let due_in = t.due_in.as_deref().and_then(|d| schedule::parse_duration(d).ok());
                    let at = t.at.as_deref().and_then(schedule::parse_time);
                    let due_at = schedule::due(cx.as_of, due_in, at, tz);
                    let g = Generated {
                        task_type: t.task_type,
                        title: conditions::fill(&t.title, &s.vars),
                        description: t.description.as_deref().map(|d| conditions::fill(d, &s.vars)),
                        due_at: due_at.naive_utc(),
                        assignee_id: user,
                        client_id: s.client_id,
                        deal_id: s.deal_id,
                    };
                    match s.task_scope() {
                        TaskScope::Client => {
                            clients_open.insert(s.client_id);
                        }
                        TaskScope::Deal => {
                            deals_open.extend(s.deal_id);
                        }
                        TaskScope::None => {}
                    }
                    planned.push(PlannedAction {
                        action: action.kind().into(),
                        detail: g.title.clone(),
                        assignee_id: Some(user),
                        due_at: Some(due_at),
                    });
                    plan.steps.push(Step::Task(g));
                }
                Action::SetClientStatus(_) | Action::AddTag(_) | Action::RemoveTag(_) => {
                    let Some(card) = cards.get_mut(&s.client_id) else { continue };
                    let entry = plan
                        .cards
                        .entry(s.client_id)
                        .or_insert_with(|| (card.clone(), ClientFields::from_client(card)));
                    let fields = &mut entry.1;
                    let detail = match action {
                        Action::SetClientStatus(x) if fields.status != x.status => {
                            fields.status = x.status;
                            if x.status == ClientStatus::Lost {
                                fields.lost_reason = x.lost_reason.clone().or(fields.lost_reason.take());
                            }
                            x.status.as_str().to_string()
                        }
                        Action::AddTag(x) if !fields.tags.contains(&x.tag) => {
                            fields.tags.push(x.tag.clone());
                            x.tag.clone()
                        }
                        Action::RemoveTag(x) if fields.tags.contains(&x.tag) => {
                            fields.tags.retain(|t| t != &x.tag);
                            x.tag.clone()
                        }
                        _ => continue,
                    };
                    planned.push(PlannedAction {
                        action: action.kind().into(),
                        detail,
                        assignee_id: None,
                        due_at: None,
                    });
                }
                Action::EmitEvent(x) => {
                    planned.push(PlannedAction {
                        action: action.kind().into(),
                        detail: x.event_type.clone(),
                        assignee_id: None,
                        due_at: None,
                    });
                    plan.steps.push(Step::Emit { event_type: x.event_type.clone(), subject: index });
                }
            }
            acted = true;
        }
        for p in &planned {
            *plan.progress.actions.entry(p.action.clone()).or_default() += 1;
        }
        if !acted && !failed {
            plan.progress.skipped += 1;
        }
        if !failed {
            plan.marks.push((s.key.clone(), s.occurrence.clone()));
        }
        if cx.preview && plan.preview.len() < 200 && !planned.is_empty() {
            plan.preview.push(PlannedSubject {
                subject: s.key.clone(),
                client_id: s.client_id,
                client_name: s.client_name.clone(),
                occurrence: s.occurrence.clone(),
                actions: planned,
            });
        }
    }
    // A card whose actions changed nothing (the tag was there already) is not written.
    plan.cards.retain(|_, (card, fields)| *fields != ClientFields::from_client(card));
    let mut changed: Vec<i64> = plan.cards.keys().copied().collect();
    changed.sort_unstable();
    plan.steps.extend(changed.into_iter().map(|client_id| Step::Card { client_id }));
    Ok(plan)
}

/// Carries a plan out in the caller's transaction, with the marks of the subjects it acted on.
pub fn apply(
    conn: &mut DbConn,
    cx: &Context<'_>,
    subjects: &[Subject],
    plan: Plan,
    run_id: i64,
) -> Result<Progress, ApiError> {
    let a = cx.automation;
    let caller = Caller::system(Some(a.actor()), "automation");
    let origin = caller.origin();
    let mut generated = Vec::new();
    let mut emits = Vec::new();
    let mut changes: Vec<(&Client, &ClientFields)> = Vec::new();
    for step in &plan.steps {
        match step {
            Step::Task(g) => generated.push(g.clone()),
            Step::Card { client_id } => {
                if let Some((card, fields)) = plan.cards.get(client_id) {
                    changes.push((card, fields));
                }
            }
            Step::Emit { event_type, subject } => emits.push((event_type, &subjects[*subject])),
        }
    }
    tasks::create_generated(conn, generated, &origin)?;
    crate::clients::repo::update_many(conn, &changes, &origin)?;
    if !emits.is_empty() {
        let ids: Vec<i64> = emits.iter().map(|(_, s)| s.client_id).collect();
        let cards: HashMap<i64, Client> = facts::cards(conn, &ids)?.into_iter().map(|c| (c.id, c)).collect();
        let list = emits
            .iter()
            .map(|(event_type, s)| NewEvent {
                event_type,
                entity_type: "automation",
                entity_id: a.id,
                payload: serde_json::json!({
                    "automation": a.key,
                    "subject": s.key,
                    "occurrence": s.occurrence,
                    "as_of": cx.as_of,
                    "client": cards.get(&s.client_id),
                    "deal_id": s.deal_id,
                    "values": s.vars,
                })
                .to_string(),
            })
            .collect();
        events::record_many(conn, &origin, list)?;
    }
    repo::mark_done(conn, a.id, run_id, &plan.marks)?;
    Ok(plan.progress)
}
