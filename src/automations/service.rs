//! The rules of automations: what a valid one is (every field path named on a 422), creating
//! and changing them, and running them: a dry run, a run now, the scheduled slots and the events
//! the worker picks up, and the runs abandoned by a process that died.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::conditions::{self, Need, PLACEHOLDERS};
use super::engine::{self, Context, Subject};
use super::facts;
use super::model::*;
use super::repo::{self, AutomationWrite};
use super::schedule;
use crate::auth::Caller;
use crate::db::{self, now, DbConn, Pool};
use crate::error::{ApiError, FieldErrors};
use crate::sync::repo::{self as feed, Position};

/// How runs go: subjects per transaction, a pause between batches (to leave the database to
/// people during a big run), and how long a run's lease lasts without renewal.
#[derive(Debug, Clone)]
pub struct Settings {
    pub batch: usize,
    pub pause: Duration,
    pub lease: TimeDelta,
}

impl Settings {
    pub fn of(config: &crate::config::Config) -> Settings {
        Settings {
            batch: config.automation_batch.max(1),
            pause: Duration::from_millis(config.automation_batch_pause_ms),
            lease: TimeDelta::seconds(config.automation_lease_secs.max(1)),
        }
    }
}

/// Event types an automation may react to: the ones the base emits.
fn known_event_type(t: &str) -> bool {
    crate::webhooks::model::EVENT_TYPES.contains(&t)
}

/// The entities the subjects of a trigger can be.
fn entities(trigger: &Trigger) -> HashSet<&'static str> {
    let mut out = HashSet::from(["client"]);
    match trigger {
        Trigger::Schedule(s) => {
            out.insert(match s.subject {
                SubjectKind::Client => "client",
                SubjectKind::Deal => "deal",
                SubjectKind::Contact => "contact",
            });
        }
        Trigger::Event(e) => {
            for t in &e.event_types {
                for entity in ["deal", "contact", "sale", "call", "task", "activity"] {
                    if t.starts_with(&format!("{entity}.")) {
                        out.insert(entity);
                    }
                }
            }
        }
    }
    out
}

fn check_trigger(trigger: &Trigger, errors: &mut FieldErrors) {
    match trigger {
        Trigger::Schedule(s) => {
            errors.check(schedule::parse_time(&s.at).is_some(), "trigger.at", "must be a time such as 06:00");
            errors.check(
                schedule::parse_zone(&s.time_zone).is_some(),
                "trigger.time_zone",
                format_args!("'{}' is not an IANA time zone such as Europe/Moscow", s.time_zone),
            );
            errors.check(
                s.weekday.is_none() || s.every == Every::Week,
                "trigger.weekday",
                "applies to weekly schedules only",
            );
            if let Some(d) = s.day_of_month {
                errors.check(s.every == Every::Month, "trigger.day_of_month", "applies to monthly schedules only");
                errors.check((1..=31).contains(&d), "trigger.day_of_month", "must be between 1 and 31");
            }
            match (&s.dates, s.every) {
                (None, Every::Year) => errors.add("trigger.dates", "a yearly schedule lists its dates"),
                (Some(_), every) if every != Every::Year => {
                    errors.add("trigger.dates", "applies to yearly schedules only")
                }
                (Some(dates), _) => {
                    errors.check((1..=50).contains(&dates.len()), "trigger.dates", "must list 1 to 50 dates");
                    for (i, d) in dates.iter().enumerate() {
                        errors.check(
                            schedule::parse_month_day(&d.on).is_some(),
                            format_args!("trigger.dates[{i}].on"),
                            "must be a day of the year as MM-DD",
                        );
                        errors.check(
                            d.occasion.as_ref().is_none_or(|o| o.chars().count() <= 200),
                            format_args!("trigger.dates[{i}].occasion"),
                            "must be at most 200 characters",
                        );
                    }
                }
                (None, _) => {}
            }
        }
        Trigger::Event(e) => {
            errors.check(
                (1..=30).contains(&e.event_types.len()),
                "trigger.event_types",
                "must list 1 to 30 event types",
            );
            for (i, t) in e.event_types.iter().enumerate() {
                errors.check(
                    known_event_type(t),
                    format_args!("trigger.event_types[{i}]"),
                    format_args!("'{t}' is not an event type the base emits"),
                );
            }
        }
    }
}

fn check_days(v: Option<i64>, field: &str, max: i64, errors: &mut FieldErrors) {
    if let Some(n) = v {
        errors.check((0..=max).contains(&n), field, format_args!("must be between 0 and {max}"));
    }
}

fn check_conditions(
    conn: &mut DbConn,
    c: &mut Conditions,
    trigger: &Trigger,
    region: phonenumber::country::Id,
    errors: &mut FieldErrors,
) -> Result<(), ApiError> {
    let has = entities(trigger);
    let scheduled = matches!(trigger, Trigger::Schedule(_));
    let not_for = |what: &str| format!("applies to {what}, which this automation's trigger never has");
    if let Some(f) = &mut c.client_filter {
        let mut inner = FieldErrors::new();
        crate::segments::service::validate_filter(conn, f, region, &mut inner)?;
        for e in inner.into_list() {
            let field = e.field.strip_prefix("filter").unwrap_or(&e.field).to_string();
            errors.add(format!("conditions.client_filter{field}"), e.message);
        }
    }
    if let Some(cc) = &c.client {
        check_days(cc.days_since_last_purchase_min, "conditions.client.days_since_last_purchase_min", 36_500, errors);
        check_days(cc.days_since_last_contact_min, "conditions.client.days_since_last_contact_min", 36_500, errors);
        check_days(cc.lost_for_days_min, "conditions.client.lost_for_days_min", 36_500, errors);
        if let Some(f) = cc.purchase_overdue_factor {
            errors.check(
                f > 0.0 && f <= 100.0,
                "conditions.client.purchase_overdue_factor",
                "must be greater than 0 and at most 100",
            );
            errors.check(
                scheduled,
                "conditions.client.purchase_overdue_factor",
                "applies to scheduled automations (it compares the client with the whole base)",
            );
        }
    }
    if let Some(d) = &c.deal {
        errors.check(has.contains("deal"), "conditions.deal", not_for("deals"));
        check_days(d.days_in_stage_min, "conditions.deal.days_in_stage_min", 36_500, errors);
        let min = d.amount_min.as_deref().map(crate::money::parse_minor);
        let max = d.amount_max.as_deref().map(crate::money::parse_minor);
        if let Some(Err(m)) = &min {
            errors.add("conditions.deal.amount_min", m.clone());
        }
        if let Some(Err(m)) = &max {
            errors.add("conditions.deal.amount_max", m.clone());
        }
        if let (Some(Ok(a)), Some(Ok(b))) = (&min, &max) {
            errors.check(a <= b, "conditions.deal.amount_min", "must not exceed amount_max");
        }
        for (field, list) in [("pipeline_id", &d.pipeline_id), ("stage_id", &d.stage_id)] {
            if let Some(l) = list {
                errors.check(
                    (1..=100).contains(&l.len()),
                    format_args!("conditions.deal.{field}"),
                    "must list 1 to 100 values",
                );
            }
        }
    }
    if let Some(cc) = &c.contact {
        errors.check(has.contains("contact"), "conditions.contact", not_for("contact persons"));
        check_days(cc.birthday_within_days, "conditions.contact.birthday_within_days", 366, errors);
    }
    if c.sale.is_some() {
        errors.check(has.contains("sale"), "conditions.sale", not_for("sales (sale.* events)"));
    }
    if let (Some(e), Trigger::Event(t)) = (&c.event, trigger) {
        if e.to_stage_kind.is_some() {
            errors.check(has.contains("deal"), "conditions.event.to_stage_kind", not_for("deal.* events"));
        }
        let status_changes = t.event_types.iter().any(|t| t == "client.status_changed");
        for (field, set) in [("to_status", e.to_status.is_some()), ("from_status", e.from_status.is_some())] {
            if set {
                errors.check(
                    status_changes,
                    format_args!("conditions.event.{field}"),
                    not_for("client.status_changed"),
                );
            }
        }
    } else if c.event.is_some() {
        errors.add("conditions.event", "applies to event triggers");
    }
    Ok(())
}

/// Whether a placeholder has a value for this automation's subjects.
fn available(need: Need, trigger: &Trigger, c: &Conditions) -> bool {
    let has = entities(trigger);
    let cc = c.client.clone().unwrap_or_default();
    match need {
        Need::Always => true,
        Need::OverdueFactor => cc.purchase_overdue_factor.is_some(),
        Need::LastContact => cc.days_since_last_contact_min.is_some(),
        Need::LostFor => cc.lost_for_days_min.is_some(),
        Need::Deal => has.contains("deal"),
        Need::Contact => has.contains("contact"),
        Need::Call => has.contains("call"),
        Need::Occasion => matches!(trigger, Trigger::Schedule(s) if s.every == Every::Year),
    }
}

fn check_template(text: &str, field: &str, trigger: &Trigger, c: &Conditions, errors: &mut FieldErrors) {
    for name in conditions::placeholders(text) {
        match PLACEHOLDERS.iter().find(|(p, _)| *p == name) {
            None => errors.add(field, format!("{{{{{name}}}}} is not a placeholder")),
            Some((_, need)) if !available(*need, trigger, c) => {
                errors.add(field, format!("{{{{{name}}}}} has no value for this automation's subjects"))
            }
            Some(_) => {}
        }
    }
}

fn check_actions(
    conn: &mut DbConn,
    actions: &mut [Action],
    trigger: &Trigger,
    c: &Conditions,
    errors: &mut FieldErrors,
) -> Result<(), ApiError> {
    errors.check((1..=20).contains(&actions.len()), "actions", "must list 1 to 20 actions");
    let has = entities(trigger);
    let users = facts::active_users(conn)?;
    for (i, action) in actions.iter_mut().enumerate() {
        let at = |field: &str| format!("actions[{i}].{field}");
        match action {
            Action::CreateTask(t) => {
                let n = t.title.trim().chars().count();
                errors.check((1..=300).contains(&n), at("title"), "must be 1 to 300 characters");
                check_template(&t.title, &at("title"), trigger, c, errors);
                if let Some(d) = &t.description {
                    errors.check(d.chars().count() <= 2000, at("description"), "must be at most 2000 characters");
                    check_template(d, &at("description"), trigger, c, errors);
                }
                if let Some(d) = &t.due_in {
                    if let Err(m) = schedule::parse_duration(d) {
                        errors.add(at("due_in"), m);
                    }
                }
                if let Some(a) = &t.at {
                    errors.check(schedule::parse_time(a).is_some(), at("at"), "must be a time such as 10:00");
                }
                match t.assignee {
                    Assignee::User(id) => errors.check(users.contains(&id), at("assignee"), "is not an active user"),
                    Assignee::Rule(AssigneeRule::DealOwner) => {
                        errors.check(has.contains("deal"), at("assignee"), "deal_owner needs deal subjects")
                    }
                    Assignee::Rule(AssigneeRule::CallUser) => {
                        errors.check(has.contains("call"), at("assignee"), "call_user needs call.* events")
                    }
                    Assignee::Rule(AssigneeRule::Owner) => {}
                }
                if let Some(id) = t.fallback_assignee_id {
                    errors.check(users.contains(&id), at("fallback_assignee_id"), "is not an active user");
                }
                t.title = t.title.trim().to_string();
            }
            Action::SetClientStatus(s) => {
                if let Some(r) = &s.lost_reason {
                    errors.check(r.chars().count() <= 500, at("lost_reason"), "must be at most 500 characters");
                }
            }
            Action::AddTag(t) | Action::RemoveTag(t) => {
                t.tag = t.tag.trim().to_lowercase();
                errors.check((1..=100).contains(&t.tag.chars().count()), at("tag"), "must be 1 to 100 characters");
            }
            Action::EmitEvent(e) => {
                let ok = e.event_type.strip_prefix("automation.").is_some_and(|name| {
                    !name.is_empty()
                        && name.len() <= 100
                        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
                });
                errors.check(ok, at("event_type"), "must be automation.<name> in lower-case letters, digits, _ and .");
            }
        }
    }
    Ok(())
}

fn check_key(key: &str, errors: &mut FieldErrors) {
    let ok = (1..=64).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    errors.check(ok, "key", "use 1 to 64 lower-case letters, digits and _, starting with a letter");
}

fn check_name(name: &str, errors: &mut FieldErrors) {
    let n = name.trim().chars().count();
    errors.check((1..=200).contains(&n), "name", "must be 1 to 200 characters");
}

fn write_of(
    name: &str,
    enabled: bool,
    trigger: &Trigger,
    conditions: &Conditions,
    actions: &[Action],
) -> AutomationWrite {
    AutomationWrite {
        name: name.trim().to_string(),
        enabled,
        trigger: serde_json::to_string(trigger).unwrap_or_default(),
        conditions: serde_json::to_string(conditions).unwrap_or_default(),
        actions: serde_json::to_string(actions).unwrap_or_default(),
    }
}

fn audit(conn: &mut DbConn, caller: &Caller, action: &str, a: &Automation) -> Result<(), ApiError> {
    let details = serde_json::json!({ "key": a.key, "enabled": a.enabled, "version": a.version });
    crate::audit::record(
        conn,
        caller,
        crate::audit::Entry { action, allowed: true, target: Some(("automation", a.id)), details },
    )?;
    Ok(())
}

/// Where the event log ends now: an event automation switched on reacts from here.
fn log_end(conn: &mut DbConn) -> Result<(i64, i64), ApiError> {
    let p = feed::end(conn)?;
    Ok((p.txid, p.id))
}

pub fn create(
    conn: &mut DbConn,
    mut input: NewAutomation,
    caller: &Caller,
    region: phonenumber::country::Id,
) -> Result<Automation, ApiError> {
    let mut errors = FieldErrors::new();
    check_key(&input.key, &mut errors);
    check_name(&input.name, &mut errors);
    check_trigger(&input.trigger, &mut errors);
    check_conditions(conn, &mut input.conditions, &input.trigger, region, &mut errors)?;
    check_actions(conn, &mut input.actions, &input.trigger, &input.conditions, &mut errors)?;
    errors.into_result()?;
    if repo::key_taken(conn, &input.key, None)? {
        return Err(ApiError::Conflict(format!("an automation with the key '{}' exists", input.key)));
    }
    let w = write_of(&input.name, input.enabled, &input.trigger, &input.conditions, &input.actions);
    let end = log_end(conn)?;
    let a = repo::insert(conn, &input.key, &w, end)?;
    audit(conn, caller, "automations.create", &a)?;
    Ok(a)
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: AutomationPatch,
    expected: Option<i64>,
    caller: &Caller,
    region: phonenumber::country::Id,
) -> Result<Automation, ApiError> {
    let row = repo::get_row(conn, id)?;
    crate::versioning::expect(expected, row.version)?;
    let current = repo::get(conn, id)?;
    let mut errors = FieldErrors::new();
    if let Some(n) = &patch.name {
        check_name(n, &mut errors);
    }
    let was_event = matches!(current.trigger, Trigger::Event(_));
    let trigger = patch.trigger.unwrap_or(current.trigger);
    let mut conditions = patch.conditions.unwrap_or(current.conditions);
    let mut actions = patch.actions.unwrap_or(current.actions);
    check_trigger(&trigger, &mut errors);
    check_conditions(conn, &mut conditions, &trigger, region, &mut errors)?;
    check_actions(conn, &mut actions, &trigger, &conditions, &mut errors)?;
    errors.into_result()?;
    let enabled = patch.enabled.unwrap_or(current.enabled);
    let w = write_of(patch.name.as_deref().unwrap_or(&current.name), enabled, &trigger, &conditions, &actions);
    // Switched on, or turned into an event automation: it reacts to what happens from now.
    let became_event = matches!(trigger, Trigger::Event(_)) && !was_event;
    let cursor = if (enabled && !row.enabled) || became_event { Some(log_end(conn)?) } else { None };
    let a = repo::update(conn, &row, &w, cursor)?;
    audit(conn, caller, "automations.update", &a)?;
    Ok(a)
}

pub fn delete(conn: &mut DbConn, id: i64, expected: Option<i64>, caller: &Caller) -> Result<(), ApiError> {
    let a = repo::get(conn, id)?;
    crate::versioning::expect(expected, a.version)?;
    repo::delete(conn, id, a.version)?;
    audit(conn, caller, "automations.delete", &a)
}

/// The runs of an automation, live or deleted.
pub fn runs(
    conn: &mut DbConn,
    id: i64,
    cursor: Option<&str>,
    limit: i64,
) -> Result<crate::pagination::Page<Run>, ApiError> {
    if !repo::ever_existed(conn, id)? {
        return Err(ApiError::NotFound);
    }
    Ok(repo::runs(conn, id, cursor, limit)?.map(Run::from))
}

fn schedule_of(a: &Automation) -> Result<&ScheduleTrigger, ApiError> {
    match &a.trigger {
        Trigger::Schedule(s) => Ok(s),
        Trigger::Event(_) => Err(ApiError::Conflict(
            "an event automation runs on its events; only a scheduled one can be run now".into(),
        )),
    }
}

/// The subjects of a scheduled automation as of an instant, in the occurrence of the latest
/// slot at or before it (so a second run the same day acts on nobody new).
fn subjects_as_of(conn: &mut DbConn, a: &Automation, as_of: DateTime<Utc>) -> Result<Vec<Subject>, ApiError> {
    let s = schedule_of(a)?;
    let slot = schedule::latest_slot(s, as_of);
    let key = slot
        .as_ref()
        .map_or_else(|| as_of.with_timezone(&schedule::zone_of(Some(s))).date_naive().to_string(), |x| x.key.clone());
    engine::scheduled(conn, a, s, as_of, &key, slot.as_ref().and_then(|x| x.occasion.as_deref()))
}

/// What a run as of `as_of` would do, without writing anything.
pub fn dry_run(conn: &mut DbConn, id: i64, as_of: DateTime<Utc>) -> Result<RunOutcome, ApiError> {
    let a = repo::get(conn, id)?;
    let subjects = subjects_as_of(conn, &a, as_of)?;
    let users = facts::active_users(conn)?;
    let cx = Context { automation: &a, as_of, active_users: &users, preview: true };
    let mut outcome = RunOutcome {
        dry_run: true,
        as_of,
        run: None,
        subjects_matched: subjects.len() as i64,
        skipped: 0,
        actions: Default::default(),
        preview: Vec::new(),
    };
    for chunk in subjects.chunks(1000) {
        let plan = engine::plan(conn, &cx, chunk)?;
        outcome.skipped += plan.progress.skipped;
        for (k, v) in &plan.progress.actions {
            *outcome.actions.entry(k.clone()).or_default() += v;
        }
        let room = 200usize.saturating_sub(outcome.preview.len());
        outcome.preview.extend(plan.preview.into_iter().take(room));
    }
    Ok(outcome)
}

/// Starts a run now (as of `as_of`): the run is recorded before anything is done, so that if
/// this process dies another resumes it.
pub fn start_now(
    conn: &mut DbConn,
    id: i64,
    as_of: DateTime<Utc>,
    lease: TimeDelta,
) -> Result<(Automation, RunRow), ApiError> {
    let a = repo::get(conn, id)?;
    schedule_of(&a)?;
    let occurrence = format!("manual:{}", uuid::Uuid::new_v4().simple());
    let run = repo::claim_run(conn, a.id, RunTrigger::Manual, &occurrence, as_of.naive_utc(), now() + lease)?
        .ok_or_else(|| ApiError::internal("a new run's occurrence was taken"))?;
    Ok((a, run))
}

/// Runs a claimed run to its end, batch by batch, each in its own transaction (blocking: call
/// it off the async threads). The marks make a resumed run skip what the first attempt did.
pub fn execute(pool: &Pool, a: &Automation, run: &RunRow, s: &Settings) -> Result<RunRow, ApiError> {
    let as_of = run.as_of.and_utc();
    let (subjects, users) = {
        let mut conn = db::connection(pool)?;
        (subjects_as_of(&mut conn, a, as_of)?, facts::active_users(&mut conn)?)
    };
    let matched = subjects.len() as i64;
    let cx = Context { automation: a, as_of, active_users: &users, preview: false };
    for chunk in subjects.chunks(s.batch) {
        let mut conn = db::connection(pool)?;
        let done = db::write_tx(&mut conn, |c| {
            let plan = engine::plan(c, &cx, chunk)?;
            let progress = engine::apply(c, &cx, chunk, plan, run.id)?;
            repo::record_progress(c, run.id, &progress, matched, now() + s.lease)?;
            Ok::<_, ApiError>(())
        });
        match done {
            Ok(()) => db::committed().notify_one(),
            // Another process marked some of these subjects first: they are its to act on.
            Err(ApiError::Conflict(_)) => tracing::info!(run = run.id, "a batch was acted on by another process"),
            Err(e) => return Err(e),
        }
        if !s.pause.is_zero() {
            std::thread::sleep(s.pause);
        }
    }
    let mut conn = db::connection(pool)?;
    let finished = db::write_tx(&mut conn, |c| {
        let row = repo::finish_run(c, run.id, matched)?;
        let caller = Caller::system(Some(a.actor()), "automation");
        let details = serde_json::json!({
            "run_id": row.id, "trigger": row.trigger, "occurrence": row.occurrence,
            "subjects_matched": row.subjects_matched, "actions_taken": serde_json::from_str::<serde_json::Value>(&row.actions_taken).unwrap_or_default(),
        });
        crate::audit::record(
            c,
            &caller,
            crate::audit::Entry {
                action: "automations.run",
                allowed: true,
                target: Some(("automation", a.id)),
                details,
            },
        )?;
        Ok::<_, ApiError>(row)
    })?;
    Ok(finished)
}

/// One round of the worker: resume abandoned runs, run the due slots of schedules (the latest
/// missed one only), and react to new events. Blocking.
pub fn tick(pool: &Pool, s: &Settings) -> Result<(), ApiError> {
    // A connection is taken for each step and given back before a run goes on: a run takes
    // its own, batch by batch.
    let connect = || db::connection(pool);
    loop {
        let claimed = {
            let mut conn = connect()?;
            match repo::claim_abandoned(&mut conn, now() + s.lease)? {
                None => None,
                Some(run) => {
                    let a = repo::get_row(&mut conn, run.automation_id).ok().and_then(|r| Automation::try_from(r).ok());
                    match a {
                        Some(a) if a.enabled || run.trigger == RunTrigger::Manual.as_str() => Some((a, run)),
                        // Disabled or deleted meanwhile: it never runs again; closed as it stands.
                        _ => {
                            repo::finish_run(&mut conn, run.id, run.subjects_matched)?;
                            continue;
                        }
                    }
                }
            }
        };
        let Some((a, run)) = claimed else { break };
        tracing::info!(run = run.id, automation = %a.key, "resuming a run its process left");
        execute(pool, &a, &run, s)?;
    }
    let enabled = repo::enabled(&mut *connect()?)?;
    for row in enabled {
        let enabled_at = row.enabled_at;
        let cursor = Position { txid: row.cursor_txid, id: row.cursor_id };
        let Ok(a) = Automation::try_from(row) else { continue };
        match &a.trigger {
            Trigger::Schedule(t) => {
                let Some(slot) = schedule::latest_slot(t, Utc::now()) else { continue };
                if enabled_at.is_some_and(|e| slot.at.naive_utc() <= e) {
                    continue;
                }
                // One statement outside a transaction: a replica that lost the race to insert the
                // slot's run gets its unique violation as `None`, with nothing to roll back.
                let claimed = repo::claim_run(
                    &mut *connect()?,
                    a.id,
                    RunTrigger::Schedule,
                    &slot.key,
                    slot.at.naive_utc(),
                    now() + s.lease,
                )?;
                if let Some(run) = claimed {
                    // A failed run keeps its lease and is resumed; the others go on meanwhile.
                    if let Err(e) = execute(pool, &a, &run, s) {
                        tracing::warn!(automation = %a.key, error = %e, "an automation run stopped");
                    }
                }
            }
            Trigger::Event(t) => {
                // Another replica reading the same events may win a page; the next round goes on
                // from where the log was left.
                if let Err(e) = react(&mut *connect()?, &a, t, cursor, s) {
                    tracing::warn!(automation = %a.key, error = %e, "reacting to events stopped");
                }
            }
        }
    }
    Ok(())
}

/// Reads the events after the automation's cursor and acts on the subjects they bring, in one
/// transaction per page with the cursor's move: a page is acted on once.
fn react(
    conn: &mut DbConn,
    a: &Automation,
    t: &EventTrigger,
    mut cursor: Position,
    s: &Settings,
) -> Result<(), ApiError> {
    let users = facts::active_users(conn)?;
    loop {
        let page = feed::read(conn, cursor, &[], None, s.batch.min(500) as i64)?;
        let next = Position::decode(&page.next_cursor)?;
        let wanted: Vec<_> = page.changes.iter().filter(|c| t.event_types.contains(&c.event_type)).collect();
        let mut subjects = Vec::new();
        for change in &wanted {
            subjects.extend(engine::from_event(conn, a, change)?);
        }
        let done = db::write_tx(conn, |c| {
            if let (Some(first), Some(last)) = (wanted.first(), wanted.last()) {
                if !subjects.is_empty() {
                    let occurrence = format!("events:{}-{}", first.id, last.id);
                    if let Some(run) = repo::claim_run(c, a.id, RunTrigger::Event, &occurrence, now(), now() + s.lease)?
                    {
                        let cx = Context { automation: a, as_of: Utc::now(), active_users: &users, preview: false };
                        let plan = engine::plan(c, &cx, &subjects)?;
                        let progress = engine::apply(c, &cx, &subjects, plan, run.id)?;
                        let matched = subjects.len() as i64;
                        repo::record_progress(c, run.id, &progress, matched, now())?;
                        repo::finish_run(c, run.id, matched)?;
                    }
                }
            }
            repo::advance_cursor(c, a.id, (next.txid, next.id))?;
            Ok::<_, ApiError>(())
        });
        match done {
            Ok(()) => {}
            Err(ApiError::Conflict(_)) => {
                tracing::info!(automation = %a.key, "events were acted on by another process")
            }
            Err(e) => return Err(e),
        }
        cursor = next;
        if !page.has_more {
            return Ok(());
        }
    }
}
