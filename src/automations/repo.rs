//! Automation storage: the automations, their runs (claimed by one process at a time through a
//! unique occurrence and a lease) and the effects that keep an automation from acting twice on
//! a subject in one occurrence.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{Automation, AutomationRow, RunError, RunRow, RunStatus, RunTrigger};
use crate::db::schema::{automation_effects, automation_runs, automations};
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{page_from, Cursor, KeyValue, Page};
use crate::versioning::AtReadVersion;

/// What a new or changed automation writes (validated, serialised).
pub struct AutomationWrite {
    pub name: String,
    pub enabled: bool,
    pub trigger: String,
    pub conditions: String,
    pub actions: String,
}

fn to_automation(r: AutomationRow) -> Result<Automation, ApiError> {
    Automation::try_from(r).map_err(|e| ApiError::internal(format!("a stored automation does not read back: {e}")))
}

pub fn get_row(conn: &mut DbConn, id: i64) -> Result<AutomationRow, ApiError> {
    Ok(automations::table
        .filter(automations::id.eq(id))
        .filter(automations::deleted_at.is_null())
        .select(AutomationRow::as_select())
        .first(conn)?)
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<Automation, ApiError> {
    to_automation(get_row(conn, id)?)
}

/// Live or deleted: a deleted automation's runs stay readable.
pub fn ever_existed(conn: &mut DbConn, id: i64) -> QueryResult<bool> {
    let n: i64 = automations::table.filter(automations::id.eq(id)).count().get_result(conn)?;
    Ok(n > 0)
}

pub fn list(
    conn: &mut DbConn,
    enabled: Option<bool>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<Automation>, ApiError> {
    let mut q = automations::table
        .filter(automations::deleted_at.is_null())
        .select(AutomationRow::as_select())
        .into_boxed::<Db>();
    if let Some(e) = enabled {
        q = q.filter(automations::enabled.eq(e));
    }
    if let Some(raw) = cursor {
        q = q.filter(automations::id.gt(Cursor::decode(raw, "id")?.id));
    }
    let rows: Vec<AutomationRow> = q.order(automations::id.asc()).limit(limit + 1).load(conn)?;
    let page = page_from(rows, limit, |r| Cursor { sort: "id".into(), key: KeyValue::Null, id: r.id });
    let items = page.items.into_iter().map(to_automation).collect::<Result<_, _>>()?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// The enabled automations, for the worker.
pub fn enabled(conn: &mut DbConn) -> QueryResult<Vec<AutomationRow>> {
    automations::table
        .filter(automations::deleted_at.is_null())
        .filter(automations::enabled.eq(true))
        .select(AutomationRow::as_select())
        .order(automations::id.asc())
        .load(conn)
}

pub fn key_taken(conn: &mut DbConn, key: &str, except: Option<i64>) -> QueryResult<bool> {
    let mut q = automations::table
        .filter(automations::key.eq(key))
        .filter(automations::deleted_at.is_null())
        .select(automations::id)
        .into_boxed::<Db>();
    if let Some(id) = except {
        q = q.filter(automations::id.ne(id));
    }
    Ok(q.first::<i64>(conn).optional()?.is_some())
}

/// Stores a new automation; an event automation reads the log from `cursor` on.
pub fn insert(conn: &mut DbConn, key: &str, w: &AutomationWrite, cursor: (i64, i64)) -> Result<Automation, ApiError> {
    let at = now();
    let row: AutomationRow = diesel::insert_into(automations::table)
        .values((
            automations::key.eq(key),
            automations::name.eq(&w.name),
            automations::enabled.eq(w.enabled),
            automations::builtin.eq(false),
            automations::trigger.eq(&w.trigger),
            automations::conditions.eq(&w.conditions),
            automations::actions.eq(&w.actions),
            automations::enabled_at.eq(w.enabled.then_some(at)),
            automations::cursor_txid.eq(cursor.0),
            automations::cursor_id.eq(cursor.1),
            automations::version.eq(1i64),
            automations::created_at.eq(at),
            automations::updated_at.eq(at),
        ))
        .returning(automations::all_columns)
        .get_result(conn)?;
    to_automation(row)
}

/// Writes over the version read (412 if it changed since). Turning it on stamps `enabled_at`
/// and moves an event automation's reading to `cursor`: it reacts to what happens from now.
pub fn update(
    conn: &mut DbConn,
    current: &AutomationRow,
    w: &AutomationWrite,
    cursor: Option<(i64, i64)>,
) -> Result<Automation, ApiError> {
    let at = now();
    let switched_on = w.enabled && !current.enabled;
    let enabled_at = if switched_on { Some(at) } else { current.enabled_at };
    let (txid, id) = cursor.unwrap_or((current.cursor_txid, current.cursor_id));
    let row: AutomationRow = diesel::update(
        automations::table.filter(automations::id.eq(current.id)).filter(automations::version.eq(current.version)),
    )
    .set((
        automations::name.eq(&w.name),
        automations::enabled.eq(w.enabled),
        automations::trigger.eq(&w.trigger),
        automations::conditions.eq(&w.conditions),
        automations::actions.eq(&w.actions),
        automations::enabled_at.eq(enabled_at),
        automations::cursor_txid.eq(txid),
        automations::cursor_id.eq(id),
        automations::version.eq(current.version + 1),
        automations::updated_at.eq(at),
    ))
    .returning(automations::all_columns)
    .get_result(conn)
    .at_read_version()?;
    to_automation(row)
}

/// Soft deletion: the runs keep pointing at it.
pub fn delete(conn: &mut DbConn, id: i64, version: i64) -> Result<(), ApiError> {
    diesel::update(automations::table.filter(automations::id.eq(id)).filter(automations::version.eq(version)))
        .set((automations::enabled.eq(false), automations::deleted_at.eq(now()), automations::version.eq(version + 1)))
        .returning(automations::id)
        .get_result::<i64>(conn)
        .at_read_version()?;
    Ok(())
}

/// Moves an event automation's reading forward (never back: two processes may both read).
pub fn advance_cursor(conn: &mut DbConn, id: i64, to: (i64, i64)) -> QueryResult<()> {
    diesel::update(automations::table.filter(automations::id.eq(id)).filter(
        automations::cursor_txid.lt(to.0).or(automations::cursor_txid.eq(to.0).and(automations::cursor_id.lt(to.1))),
    ))
    .set((automations::cursor_txid.eq(to.0), automations::cursor_id.eq(to.1)))
    .execute(conn)?;
    Ok(())
}

/// Claims occurrence `occurrence` of the automation for this process: a new running run, or
/// `None` when a run of that occurrence exists (another process has it, or it has been run).
pub fn claim_run(
    conn: &mut DbConn,
    automation_id: i64,
    trigger: RunTrigger,
    occurrence: &str,
    as_of: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> QueryResult<Option<RunRow>> {
    if run_of(conn, automation_id, occurrence)?.is_some() {
        return Ok(None);
    }
    let inserted = diesel::insert_into(automation_runs::table)
        .values((
            automation_runs::automation_id.eq(automation_id),
            automation_runs::trigger.eq(trigger.as_str()),
            automation_runs::occurrence.eq(occurrence),
            automation_runs::as_of.eq(as_of),
            automation_runs::status.eq(RunStatus::Running.as_str()),
            automation_runs::started_at.eq(now()),
            automation_runs::lease_until.eq(Some(lease_until)),
        ))
        .returning(automation_runs::all_columns)
        .get_result(conn);
    match inserted {
        Ok(row) => Ok(Some(row)),
        // Another process inserted the same occurrence between the check and the insert.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn run_of(conn: &mut DbConn, automation_id: i64, occurrence: &str) -> QueryResult<Option<i64>> {
    automation_runs::table
        .filter(automation_runs::automation_id.eq(automation_id))
        .filter(automation_runs::occurrence.eq(occurrence))
        .select(automation_runs::id)
        .first(conn)
        .optional()
}

/// Takes over a run whose process stopped renewing its lease (it died mid-run).
pub fn claim_abandoned(conn: &mut DbConn, lease_until: NaiveDateTime) -> QueryResult<Option<RunRow>> {
    let at = now();
    let stale: Option<(i64, Option<NaiveDateTime>)> = automation_runs::table
        .filter(automation_runs::status.eq(RunStatus::Running.as_str()))
        .filter(automation_runs::lease_until.lt(at))
        .select((automation_runs::id, automation_runs::lease_until))
        .order(automation_runs::id.asc())
        .first(conn)
        .optional()?;
    let Some((id, seen)) = stale else { return Ok(None) };
    // Conditional on the lease seen: of two processes taking it over, one wins.
    diesel::update(
        automation_runs::table.filter(automation_runs::id.eq(id)).filter(automation_runs::lease_until.eq(seen)),
    )
    .set(automation_runs::lease_until.eq(Some(lease_until)))
    .returning(automation_runs::all_columns)
    .get_result(conn)
    .optional()
}

/// What a batch of a run did, added to the run's totals; the lease is renewed with it.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    pub processed: i64,
    pub skipped: i64,
    pub actions: BTreeMap<String, i64>,
    pub errors: Vec<RunError>,
}

pub const ERRORS_KEPT: usize = 50;

pub fn record_progress(
    conn: &mut DbConn,
    run_id: i64,
    p: &Progress,
    matched: i64,
    lease_until: NaiveDateTime,
) -> QueryResult<()> {
    let current: RunRow = automation_runs::table.find(run_id).select(RunRow::as_select()).first(conn)?;
    let mut actions: BTreeMap<String, i64> = serde_json::from_str(&current.actions_taken).unwrap_or_default();
    for (k, v) in &p.actions {
        *actions.entry(k.clone()).or_default() += v;
    }
    let mut errors: Vec<RunError> = serde_json::from_str(&current.errors).unwrap_or_default();
    errors.extend(p.errors.iter().take(ERRORS_KEPT.saturating_sub(errors.len())).cloned());
    diesel::update(automation_runs::table.find(run_id))
        .set((
            automation_runs::subjects_matched.eq(matched),
            automation_runs::processed.eq(current.processed + p.processed),
            automation_runs::skipped.eq(current.skipped + p.skipped),
            automation_runs::actions_taken.eq(serde_json::to_string(&actions).unwrap_or_default()),
            automation_runs::errors.eq(serde_json::to_string(&errors).unwrap_or_default()),
            automation_runs::error_count.eq(current.error_count + p.errors.len() as i64),
            automation_runs::lease_until.eq(Some(lease_until)),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn finish_run(conn: &mut DbConn, run_id: i64, matched: i64) -> QueryResult<RunRow> {
    diesel::update(automation_runs::table.find(run_id))
        .set((
            automation_runs::status.eq(RunStatus::Finished.as_str()),
            automation_runs::finished_at.eq(Some(now())),
            automation_runs::lease_until.eq(None::<NaiveDateTime>),
            automation_runs::subjects_matched.eq(matched),
        ))
        .returning(automation_runs::all_columns)
        .get_result(conn)
}

pub fn run(conn: &mut DbConn, id: i64) -> QueryResult<RunRow> {
    automation_runs::table.find(id).select(RunRow::as_select()).first(conn)
}

/// Newest first.
pub fn runs(conn: &mut DbConn, automation_id: i64, cursor: Option<&str>, limit: i64) -> Result<Page<RunRow>, ApiError> {
    let mut q = automation_runs::table
        .filter(automation_runs::automation_id.eq(automation_id))
        .select(RunRow::as_select())
        .into_boxed::<Db>();
    if let Some(raw) = cursor {
        q = q.filter(automation_runs::id.lt(Cursor::decode(raw, "runs")?.id));
    }
    let rows: Vec<RunRow> = q.order(automation_runs::id.desc()).limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor { sort: "runs".into(), key: KeyValue::Null, id: r.id }))
}

/// Which of these (subject, occurrence) pairs the automation has acted on already.
pub fn done(
    conn: &mut DbConn,
    automation_id: i64,
    keys: &[(String, String)],
) -> QueryResult<HashSet<(String, String)>> {
    let wanted: HashSet<&(String, String)> = keys.iter().collect();
    let mut found = HashSet::new();
    for chunk in keys.chunks(500) {
        let subjects: Vec<&str> = chunk.iter().map(|(s, _)| s.as_str()).collect();
        let rows: Vec<(String, String)> = automation_effects::table
            .filter(automation_effects::automation_id.eq(automation_id))
            .filter(automation_effects::subject.eq_any(subjects))
            .select((automation_effects::subject, automation_effects::occurrence))
            .load(conn)?;
        found.extend(rows);
    }
    found.retain(|k| wanted.contains(k));
    Ok(found)
}

/// Marks (subject, occurrence) pairs as acted on, in the transaction of the actions: both or
/// neither. A pair another process marked first fails the transaction (the primary key).
pub fn mark_done(conn: &mut DbConn, automation_id: i64, run_id: i64, keys: &[(String, String)]) -> QueryResult<()> {
    let at = now();
    let rows: Vec<_> = keys
        .iter()
        .map(|(s, o)| {
            (
                automation_effects::automation_id.eq(automation_id),
                automation_effects::subject.eq(s.as_str()),
                automation_effects::occurrence.eq(o.as_str()),
                automation_effects::run_id.eq(run_id),
                automation_effects::created_at.eq(at),
            )
        })
        .collect();
    for chunk in rows.chunks(1000) {
        crate::insert_rows!(conn, automation_effects::table, chunk)?;
    }
    Ok(())
}
