//! The rules of an import: what an upload stores and guesses, which settings are accepted,
//! the preview, the run (batch by batch, each batch one transaction with its row records and
//! the progress it moves, so that a resumed run never applies a row twice), the revert.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use chrono::TimeDelta;
use serde_json::json;

use super::file::{self, MAX_ROWS};
use super::mapping::{self, Mapper};
use super::model::{
    FileFormat, Import, ImportEntity, ImportPatch, ImportRow, ImportState, Preview, RevertSummary, RowOutcome,
    RowRecord, Totals,
};
use super::plan::{self, Judge, Pending};
use super::records::{self, Writer};
use super::repo;
use crate::audit::model::Entry;
use crate::auth::Caller;
use crate::clients::model::{Client, ClientFields, ClientPatch};
use crate::clients::repo as clients_repo;
use crate::config::Config;
use crate::db::{self, now, DbConn, Pool};
use crate::error::{ApiError, FieldErrors};
use crate::events::Origin;

/// What the run takes from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub batch: usize,
    /// Batches applied side by side.
    pub workers: usize,
    pub lease: TimeDelta,
    pub region: phonenumber::country::Id,
    /// The currency sales are kept in.
    pub currency: String,
}

impl Settings {
    pub fn of(config: &Config) -> Settings {
        Settings {
            batch: config.import_batch.max(1),
            workers: config.import_workers.max(1),
            lease: TimeDelta::seconds(config.import_lease_secs.max(1)),
            region: config.phone_region,
            currency: config.currency.clone(),
        }
    }
}

pub const ENTITY: &str = "import";

fn audit(
    conn: &mut DbConn,
    who: &Caller,
    action: &str,
    row: &ImportRow,
    extra: serde_json::Value,
) -> Result<(), ApiError> {
    let mut details = json!({ "file_name": row.file_name, "rows": row.row_count });
    if let (Some(d), serde_json::Value::Object(more)) = (details.as_object_mut(), extra) {
        d.extend(more);
    }
    crate::audit::repo::record(conn, who, Entry { action, allowed: true, target: Some((ENTITY, row.id)), details })?;
    Ok(())
}

/// An uploaded file.
pub struct Upload {
    pub entity: ImportEntity,
    pub file_name: String,
    pub sheet: Option<String>,
    pub content: Vec<u8>,
}

/// Stores the file with its survey (header, samples, rows) and the guessed mapping.
pub fn upload(conn: &mut DbConn, u: Upload, who: &Caller) -> Result<Import, ApiError> {
    let format = file::detect(&u.content)?;
    let survey = file::survey(&u.content, format, u.sheet.as_deref())?;
    let headers: Vec<String> = survey.columns.iter().map(|c| c.header.clone()).collect();
    let fields = repo::schema(conn, u.entity)?;
    let mut settings =
        super::model::ImportSettings { mapping: mapping::guess_all(u.entity, &headers, &fields), ..Default::default() };
    if u.entity != ImportEntity::Clients {
        // A contact's or sale's client: by INN, the ids of other systems, then by name.
        let mut keys = vec!["inn".to_string()];
        keys.extend(
            settings
                .mapping
                .values()
                .filter_map(|t| t.strip_prefix("client."))
                .filter(|t| t.starts_with("external_id:"))
                .map(String::from),
        );
        keys.extend(["name_region".to_string(), "name".to_string()]);
        settings.match_on = keys;
    }
    let row = db::write_tx(conn, |conn| {
        let row = repo::insert(
            conn,
            repo::NewImport {
                entity: u.entity,
                file_name: &u.file_name,
                format,
                sheet: survey.sheet.as_deref(),
                rows: survey.rows,
                columns: serde_json::to_string(&survey.columns).unwrap_or_default(),
                settings: &settings,
                created_by: who.actor(),
                content: &u.content,
            },
        )?;
        audit(conn, who, "imports.upload", &row, json!({ "format": format.as_str() }))?;
        Ok::<_, ApiError>(row)
    })?;
    Ok(Import::from_row(row))
}

/// Checks what only the database can tell of the settings: the default owner and channel.
fn check_defaults(
    conn: &mut DbConn,
    s: &super::model::ImportSettings,
    region: phonenumber::country::Id,
) -> Result<(), ApiError> {
    let lookups = repo::lookups(conn, region, ImportEntity::Clients)?;
    let mut errors = FieldErrors::new();
    if let Some(owner) = &s.defaults.owner {
        if let Err(message) = lookups.owner(owner) {
            errors.add("defaults.owner", message);
        }
    }
    if let Some(channel) = &s.defaults.channel {
        errors.check(
            lookups.has_channel(channel),
            "defaults.channel",
            format_args!("'{channel}' is not an active channel"),
        );
    }
    errors.into_result()
}

/// Changes the settings of an uploaded import.
pub fn configure(
    conn: &mut DbConn,
    id: i64,
    expected: Option<i64>,
    patch: ImportPatch,
    region: phonenumber::country::Id,
) -> Result<Import, ApiError> {
    let row = repo::get(conn, id)?;
    crate::versioning::expect(expected, row.version)?;
    if row.state() != ImportState::Uploaded {
        return Err(ApiError::Conflict(format!("the import is {}: only an uploaded import can be changed", row.state)));
    }
    let mut s = row.settings();
    if let Some(m) = patch.mapping {
        s.mapping = m;
    }
    if let Some(m) = patch.mode {
        s.mode = m;
    }
    if let Some(m) = patch.match_on {
        s.match_on = m;
    }
    if let Some(d) = patch.defaults {
        s.defaults = d;
    }
    if let Some(v) = patch.values {
        s.values = v;
    }
    let entity = row.entity();
    mapping::validate(entity, &s, &row.headers(), &repo::schema(conn, entity)?)?;
    check_defaults(conn, &s, region)?;
    Ok(Import::from_row(repo::set_settings(conn, id, row.version, &s)?))
}

/// A key of the file-wide duplicate check, hashed: a million rows' keys stay a few dozen MiB.
fn key_hash(key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// What the rows of an import are read and judged with.
struct Prepared {
    content: Vec<u8>,
    settings: super::model::ImportSettings,
    headers: Vec<String>,
    lookups: mapping::Lookups,
}

impl Prepared {
    fn load(conn: &mut DbConn, row: &ImportRow, region: phonenumber::country::Id) -> Result<Prepared, ApiError> {
        Ok(Prepared {
            content: repo::file(conn, row.id)?,
            settings: row.settings(),
            headers: row.headers(),
            lookups: repo::lookups(conn, region, row.entity())?,
        })
    }
}

/// Reads the import's rows in order, drafts each, notes the first row of each INN, phone,
/// email and external id, and hands the rows to `batch` in batches of `size` (the same cut on
/// every read of the file); `batch` answers false to stop.
fn walk(
    p: &Prepared,
    row: &ImportRow,
    size: usize,
    mut batch: impl FnMut(Vec<Pending>) -> Result<bool, ApiError>,
) -> Result<(), ApiError> {
    let mapper = Mapper::new(row.entity(), &p.settings, &p.headers, &p.lookups);
    let mut first_of: HashMap<u64, u32> = HashMap::new();
    let mut number = -1i64;
    let mut pending: Vec<Pending> = Vec::with_capacity(size);
    let mut go_on = true;
    file::rows(&p.content, FileFormat::parse(&row.format), row.sheet.as_deref(), |cells| {
        number += 1;
        if number == 0 {
            return Ok(true);
        }
        if number > MAX_ROWS {
            return Ok(false);
        }
        let draft = mapper.draft(&cells);
        let mut duplicate_of = None;
        if draft.errors.is_empty() {
            let keys: Vec<u64> = draft.identity().iter().map(|k| key_hash(k)).collect();
            duplicate_of = keys.iter().find_map(|k| first_of.get(k)).map(|r| *r as i64);
            if duplicate_of.is_none() {
                for k in keys {
                    first_of.insert(k, number as u32);
                }
            }
        }
        pending.push(Pending { row: number, draft, duplicate_of });
        if pending.len() >= size {
            go_on = batch(std::mem::take(&mut pending))?;
        }
        Ok(go_on)
    })?;
    if go_on && !pending.is_empty() {
        batch(pending)?;
    }
    Ok(())
}

/// What running the import would do, without writing: totals of the whole file and the rows
/// after `after` (of one outcome, when asked).
pub fn preview(
    conn: &mut DbConn,
    id: i64,
    after: i64,
    limit: usize,
    only: Option<RowOutcome>,
    s: &Settings,
) -> Result<Preview, ApiError> {
    let row = repo::get(conn, id)?;
    let prepared = Prepared::load(conn, &row, s.region)?;
    let judge = Judge::new(&prepared.settings, &prepared.lookups, s.region);
    let writer = Writer { judge: &judge, import_id: id, caller: Caller::system(None, "import"), currency: &s.currency };
    let mut totals = Totals::default();
    let mut rows = Vec::new();
    let mut more = false;
    walk(&prepared, &row, 1000, |batch| {
        let decisions = match row.entity() {
            ImportEntity::Clients => plan::decide(conn, &judge, batch)?,
            // Contacts and sales are judged by their own rules' writes, rolled back.
            entity => db::rolled_back_tx(conn, |conn| records::write(conn, entity, &writer, batch))?.decisions,
        };
        for d in decisions {
            totals.add(d.outcome);
            if d.row > after && only.is_none_or(|o| o == d.outcome) {
                if rows.len() < limit {
                    rows.push(d.preview());
                } else {
                    more = true;
                }
            }
        }
        Ok(true)
    })?;
    let next_after = if more { rows.last().map(|r: &super::model::PreviewRow| r.row) } else { None };
    Ok(Preview { totals, rows, next_after })
}

/// Puts an uploaded import in the queue; any process's worker picks it up.
pub fn start(conn: &mut DbConn, id: i64, who: &Caller, batch_rows: usize) -> Result<Import, ApiError> {
    let row = repo::get(conn, id)?;
    let settings = row.settings();
    mapping::validate(row.entity(), &settings, &row.headers(), &repo::schema(conn, row.entity())?)?;
    if settings.mapping.values().all(|t| t == mapping::IGNORE) {
        return Err(ApiError::field("mapping", "maps no column to a field"));
    }
    db::write_tx(conn, |conn| {
        let Some(started) = repo::start(conn, id, &who.actor(), batch_rows as i64)? else {
            let state = repo::get(conn, id)?.state;
            return Err(ApiError::Conflict(match state.as_str() {
                "running" => "the import is already running".to_string(),
                s => format!("the import is {s}: an import runs once (upload the file again to run it again)"),
            }));
        };
        audit(conn, who, "imports.run", &started, json!({ "mode": settings.mode }))?;
        Ok(Import::from_row(started))
    })
}

/// One round of the worker: runs every running import no live process holds.
pub fn tick(pool: &Pool, s: &Settings) -> Result<(), ApiError> {
    loop {
        let claimed = repo::claim(&mut *db::connection(pool)?, now() + s.lease)?;
        let Some(row) = claimed else { return Ok(()) };
        if row.processed > 0 {
            tracing::info!(import = row.id, processed = row.processed, "resuming an import its process left");
        }
        let mut conn = db::connection(pool)?;
        match execute(pool, &mut conn, &row, s) {
            Ok(()) => {
                let finished = db::write_tx(&mut conn, |conn| {
                    repo::finish(conn, row.id, ImportState::Done, None)?;
                    let done = repo::get(conn, row.id)?;
                    let who = Caller::system(row.started_by.clone(), "import");
                    let counts = json!({
                        "created": done.created, "updated": done.updated, "unchanged": done.unchanged,
                        "skipped": done.skipped, "errors": done.errors,
                    });
                    audit(conn, &who, "imports.done", &done, counts)
                });
                finished?;
            }
            // The database went away: the lease runs out and a process takes the import up again.
            Err(ApiError::Unavailable) => {
                tracing::warn!(import = row.id, "an import paused: the database is unavailable");
                return Err(ApiError::Unavailable);
            }
            Err(e) => {
                tracing::warn!(import = row.id, error = %e, "an import failed");
                repo::finish(&mut conn, row.id, ImportState::Failed, Some(&e.to_string()))?;
            }
        }
        db::committed().notify_one();
    }
}

/// Applies the batches not applied yet: this thread reads and drafts the rows, `workers`
/// threads apply batches side by side, each batch one transaction that first claims it (a
/// batch, and so a row, is never applied twice, whichever worker or process gets to it).
fn execute(pool: &Pool, conn: &mut DbConn, row: &ImportRow, s: &Settings) -> Result<(), ApiError> {
    let origin = Origin { actor: row.started_by.clone(), source: "import".into() };
    let prepared = Prepared::load(conn, row, s.region)?;
    let judge = Judge::new(&prepared.settings, &prepared.lookups, s.region);
    let done = repo::done_batches(conn, row.id)?;
    let size = row.batch_rows.max(1) as usize;
    let failure: std::sync::Mutex<Option<ApiError>> = std::sync::Mutex::new(None);
    let failed = std::sync::atomic::AtomicBool::new(false);
    let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Pending>>(s.workers);
    let receive = std::sync::Mutex::new(receive);
    std::thread::scope(|scope| {
        for _ in 0..s.workers {
            scope.spawn(|| {
                let mut conn = match db::connection(pool) {
                    Ok(c) => c,
                    Err(_) => {
                        failed.store(true, std::sync::atomic::Ordering::SeqCst);
                        failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(ApiError::Unavailable);
                        return;
                    }
                };
                loop {
                    let next = receive.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(batch) = next else { return };
                    // After a failure the rest is drained unapplied: the reader never waits.
                    if failed.load(std::sync::atomic::Ordering::SeqCst) {
                        continue;
                    }
                    if let Err(e) = apply_batch(&mut conn, row.entity(), row.id, &judge, batch, &origin, s) {
                        failed.store(true, std::sync::atomic::Ordering::SeqCst);
                        failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                    }
                }
            });
        }
        let read = walk(&prepared, row, size, |batch| {
            if failed.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(false);
            }
            if !done.contains(&batch[0].row) {
                send.send(batch).map_err(|_| ApiError::internal("the import's workers stopped"))?;
            }
            Ok(true)
        });
        drop(send);
        if let Err(e) = read {
            failure.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
        }
    });
    match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One batch in one transaction: claimed, decided, written, recorded, counted. A card changed
/// between the batch's reads and its writes fails it: it is read and decided again, once.
#[allow(clippy::too_many_arguments)]
fn apply_batch(
    conn: &mut DbConn,
    entity: ImportEntity,
    import_id: i64,
    judge: &Judge<'_>,
    batch: Vec<Pending>,
    origin: &Origin,
    s: &Settings,
) -> Result<(), ApiError> {
    let first = batch[0].row;
    let rows = batch.len() as i64;
    let mut attempt = 0;
    loop {
        let result = db::write_tx(conn, |conn| {
            if !repo::claim_batch(conn, import_id, first, rows)? {
                return Ok(());
            }
            let (records, totals) = match entity {
                ImportEntity::Clients => {
                    let decisions = plan::decide(conn, judge, batch.clone())?;
                    plan::apply(conn, import_id, decisions, origin)?
                }
                entity => {
                    let caller = Caller::system(origin.actor.clone(), &origin.source);
                    let writer = Writer { judge, import_id, caller, currency: &s.currency };
                    let done = records::write(conn, entity, &writer, batch.clone())?;
                    (done.records, done.totals)
                }
            };
            repo::record_rows(conn, &records)?;
            repo::add_progress(conn, import_id, rows, &totals, now() + s.lease)?;
            Ok(())
        });
        match result {
            Err(ApiError::PreconditionFailed) if attempt == 0 => attempt += 1,
            other => {
                db::committed().notify_one();
                return other;
            }
        }
    }
}

/// The rejected rows as uploaded with their reasons, as CSV or XLSX, and the file's name.
pub fn errors_report(conn: &mut DbConn, id: i64, xlsx: bool) -> Result<(String, Vec<u8>), ApiError> {
    let import = repo::get(conn, id)?;
    let content = repo::file(conn, id)?;
    let rejected = repo::rejected(conn, id)?;
    let bytes = if xlsx {
        super::report::xlsx(&import, &content, &rejected)?
    } else {
        super::report::csv(&import, &content, &rejected)?
    };
    Ok((import.file_name, bytes))
}

const REVERT_BATCH: i64 = 500;

/// Undoes a finished import: the cards it created are soft-deleted, the fields it changed get
/// their previous values back where the card is still as the import left it.
pub fn revert(conn: &mut DbConn, id: i64, who: &Caller, s: &Settings) -> Result<Import, ApiError> {
    let row = repo::get(conn, id)?;
    match row.state() {
        ImportState::Done | ImportState::Failed | ImportState::Reverted => {}
        s => {
            return Err(ApiError::Conflict(format!(
                "the import is {}: only a finished import can be reverted",
                s.as_str()
            )))
        }
    }
    let mut summary: RevertSummary =
        row.reverted.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    let origin = Origin { actor: Some(who.actor()), source: "import".into() };
    let caller = Caller::system(Some(who.actor()), "import");
    let settings = row.settings();
    let sale_source = settings.mapping.values().find_map(|t| t.strip_prefix("external_id:"));
    loop {
        let step = db::write_tx(conn, |conn| {
            let rows = repo::claim_for_revert(conn, id, REVERT_BATCH)?;
            match row.entity() {
                ImportEntity::Clients => undo(conn, &rows, &origin, s.region, &mut summary)?,
                ImportEntity::Contacts => records::undo_contacts(conn, &rows, &caller, s.region, &mut summary)?,
                ImportEntity::Sales => {
                    records::undo_sales(conn, &rows, sale_source, &caller, &s.currency, &mut summary)?
                }
            }
            Ok::<_, ApiError>(rows.len())
        })?;
        db::committed().notify_one();
        if step == 0 {
            break;
        }
    }
    db::write_tx(conn, |conn| {
        let done = repo::mark_reverted(conn, id, &serde_json::to_string(&summary).unwrap_or_default())?;
        let counts =
            json!({ "deleted": summary.deleted, "restored": summary.restored, "conflicts": summary.conflict_count });
        audit(conn, who, "imports.revert", &done, counts)?;
        Ok(Import::from_row(done))
    })
}

fn undo(
    conn: &mut DbConn,
    rows: &[RowRecord],
    origin: &Origin,
    region: phonenumber::country::Id,
    summary: &mut RevertSummary,
) -> Result<(), ApiError> {
    let created: Vec<i64> =
        rows.iter().filter(|r| r.outcome == RowOutcome::Create.as_str()).filter_map(|r| r.record_id).collect();
    summary.deleted += clients_repo::soft_delete_many(conn, &created, origin)? as i64;
    let updated: Vec<&RowRecord> = rows.iter().filter(|r| r.outcome == RowOutcome::Update.as_str()).collect();
    let ids: Vec<i64> = updated.iter().filter_map(|r| r.record_id).collect();
    let cards: HashMap<i64, Client> = clients_repo::load(conn, &ids)?.into_iter().map(|c| (c.id, c)).collect();
    let mut restores: Vec<(Client, ClientFields)> = Vec::new();
    for r in updated {
        let Some(card) = r.record_id.and_then(|id| cards.get(&id)) else { continue };
        let mut conflict = |reason: &str| summary.conflict(r.row_no, card.id, None, reason);
        if Some(card.version) != r.version_after {
            conflict("changed after the import: left as it is");
            continue;
        }
        let patch: Option<ClientPatch> = r.previous.as_deref().and_then(|p| serde_json::from_str(p).ok());
        let Some(patch) = patch else {
            conflict("the previous values could not be read");
            continue;
        };
        let mut errors = FieldErrors::new();
        let before = ClientFields::from_client(card).patched(patch, region, &mut errors);
        if errors.is_empty() {
            restores.push((card.clone(), before));
        } else {
            conflict("the previous values are no longer valid");
        }
    }
    let pairs: Vec<(&Client, &ClientFields)> = restores.iter().map(|(c, f)| (c, f)).collect();
    summary.restored += clients_repo::update_many(conn, &pairs, origin)?.len() as i64;
    Ok(())
}
