//! Storing imports, their files and row records; the lease that gives a running import to one
//! process and the progress that moves only forward from what that process last committed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::mapping::Lookups;
use super::model::{FileFormat, ImportEntity, ImportRow, ImportSettings, ImportState, RowRecord, Totals};
use crate::db::schema::{channels, import_batches, import_files, import_rows, imports, users};
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{page_from, Cursor, KeyValue, Page};

pub fn get(conn: &mut DbConn, id: i64) -> Result<ImportRow, ApiError> {
    imports::table.find(id).select(ImportRow::as_select()).first(conn).optional()?.ok_or(ApiError::NotFound)
}

/// Newest first.
pub fn list(
    conn: &mut DbConn,
    state: Option<ImportState>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<ImportRow>, ApiError> {
    let mut q = imports::table.select(ImportRow::as_select()).into_boxed::<Db>();
    if let Some(s) = state {
        q = q.filter(imports::state.eq(s.as_str()));
    }
    if let Some(raw) = cursor {
        q = q.filter(imports::id.lt(Cursor::decode(raw, "imports")?.id));
    }
    let rows: Vec<ImportRow> = q.order(imports::id.desc()).limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor { sort: "imports".into(), key: KeyValue::Null, id: r.id }))
}

/// What an upload stores.
pub struct NewImport<'a> {
    pub entity: ImportEntity,
    pub file_name: &'a str,
    pub format: FileFormat,
    pub sheet: Option<&'a str>,
    pub rows: i64,
    pub columns: String,
    pub settings: &'a ImportSettings,
    pub created_by: String,
    pub content: &'a [u8],
}

pub fn insert(conn: &mut DbConn, n: NewImport<'_>) -> Result<ImportRow, ApiError> {
    let at = now();
    let row: ImportRow = diesel::insert_into(imports::table)
        .values((
            imports::entity.eq(n.entity.as_str()),
            imports::state.eq(ImportState::Uploaded.as_str()),
            imports::file_name.eq(n.file_name),
            imports::format.eq(n.format.as_str()),
            imports::sheet.eq(n.sheet),
            imports::size_bytes.eq(n.content.len() as i64),
            imports::row_count.eq(n.rows),
            imports::file_columns.eq(&n.columns),
            imports::settings.eq(serde_json::to_string(n.settings).unwrap_or_default()),
            imports::created_by.eq(&n.created_by),
            imports::created_at.eq(at),
            imports::updated_at.eq(at),
        ))
        .returning(imports::all_columns)
        .get_result(conn)?;
    diesel::insert_into(import_files::table)
        .values((import_files::import_id.eq(row.id), import_files::content.eq(n.content)))
        .execute(conn)?;
    Ok(row)
}

pub fn file(conn: &mut DbConn, id: i64) -> Result<Vec<u8>, ApiError> {
    import_files::table.find(id).select(import_files::content).first(conn).optional()?.ok_or(ApiError::NotFound)
}

/// New settings, over the version read.
pub fn set_settings(
    conn: &mut DbConn,
    id: i64,
    version: i64,
    settings: &ImportSettings,
) -> Result<ImportRow, ApiError> {
    diesel::update(imports::table.filter(imports::id.eq(id)).filter(imports::version.eq(version)))
        .set((
            imports::settings.eq(serde_json::to_string(settings).unwrap_or_default()),
            imports::version.eq(version + 1),
            imports::updated_at.eq(now()),
        ))
        .returning(imports::all_columns)
        .get_result(conn)
        .optional()?
        .ok_or(ApiError::PreconditionFailed)
}

/// Uploaded → running, once: `None` when it is not (or no longer) uploaded.
pub fn start(conn: &mut DbConn, id: i64, actor: &str, batch_rows: i64) -> QueryResult<Option<ImportRow>> {
    let at = now();
    diesel::update(imports::table.filter(imports::id.eq(id)).filter(imports::state.eq(ImportState::Uploaded.as_str())))
        .set((
            imports::state.eq(ImportState::Running.as_str()),
            imports::started_by.eq(actor),
            imports::batch_rows.eq(batch_rows),
            imports::started_at.eq(Some(at)),
            imports::lease_until.eq(None::<NaiveDateTime>),
            imports::version.eq(imports::version + 1),
            imports::updated_at.eq(at),
        ))
        .returning(imports::all_columns)
        .get_result(conn)
        .optional()
}

/// Takes a running import no process holds (new, or its process stopped renewing the lease).
pub fn claim(conn: &mut DbConn, lease_until: NaiveDateTime) -> QueryResult<Option<ImportRow>> {
    let at = now();
    let free: Option<(i64, Option<NaiveDateTime>)> = imports::table
        .filter(imports::state.eq(ImportState::Running.as_str()))
        .filter(imports::lease_until.is_null().or(imports::lease_until.lt(at)))
        .select((imports::id, imports::lease_until))
        .order(imports::id.asc())
        .first(conn)
        .optional()?;
    let Some((id, seen)) = free else { return Ok(None) };
    // Conditional on the lease seen: of two processes taking it, one wins.
    let q = imports::table.filter(imports::id.eq(id)).filter(imports::state.eq(ImportState::Running.as_str()));
    let claimed = match seen {
        Some(s) => diesel::update(q.filter(imports::lease_until.eq(s)))
            .set(imports::lease_until.eq(Some(lease_until)))
            .returning(imports::all_columns)
            .get_result(conn)
            .optional()?,
        None => diesel::update(q.filter(imports::lease_until.is_null()))
            .set(imports::lease_until.eq(Some(lease_until)))
            .returning(imports::all_columns)
            .get_result(conn)
            .optional()?,
    };
    Ok(claimed)
}

/// The first rows of the batches applied so far.
pub fn done_batches(conn: &mut DbConn, id: i64) -> QueryResult<std::collections::HashSet<i64>> {
    let firsts: Vec<i64> =
        import_batches::table.filter(import_batches::import_id.eq(id)).select(import_batches::first_row).load(conn)?;
    Ok(firsts.into_iter().collect())
}

/// Claims the batch starting at `first_row` in the caller's transaction: false when it was
/// applied already (by another worker or process), and then the transaction must not go on.
pub fn claim_batch(conn: &mut DbConn, id: i64, first_row: i64, rows: i64) -> QueryResult<bool> {
    let inserted = diesel::insert_into(import_batches::table)
        .values((
            import_batches::import_id.eq(id),
            import_batches::first_row.eq(first_row),
            import_batches::row_count.eq(rows),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Adds a batch's rows and totals to the import and renews the lease.
pub fn add_progress(conn: &mut DbConn, id: i64, rows: i64, t: &Totals, lease_until: NaiveDateTime) -> QueryResult<()> {
    diesel::update(imports::table.filter(imports::id.eq(id)))
        .set((
            imports::processed.eq(imports::processed + rows),
            imports::created.eq(imports::created + t.create),
            imports::updated.eq(imports::updated + t.update),
            imports::unchanged.eq(imports::unchanged + t.unchanged),
            imports::skipped.eq(imports::skipped + t.skip),
            imports::errors.eq(imports::errors + t.error),
            imports::lease_until.eq(Some(lease_until)),
            imports::updated_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Running → done or failed.
pub fn finish(conn: &mut DbConn, id: i64, state: ImportState, failure: Option<&str>) -> QueryResult<()> {
    let at = now();
    diesel::update(imports::table.filter(imports::id.eq(id)).filter(imports::state.eq(ImportState::Running.as_str())))
        .set((
            imports::state.eq(state.as_str()),
            imports::failure.eq(failure),
            imports::finished_at.eq(Some(at)),
            imports::lease_until.eq(None::<NaiveDateTime>),
            imports::version.eq(imports::version + 1),
            imports::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn record_rows(conn: &mut DbConn, rows: &[RowRecord]) -> QueryResult<()> {
    let values: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                import_rows::import_id.eq(r.import_id),
                import_rows::row_no.eq(r.row_no),
                import_rows::outcome.eq(r.outcome.as_str()),
                import_rows::record_id.eq(r.record_id),
                import_rows::previous.eq(r.previous.as_deref()),
                import_rows::version_after.eq(r.version_after),
                import_rows::reasons.eq(r.reasons.as_deref()),
                import_rows::reverted.eq(r.reverted),
            )
        })
        .collect();
    for chunk in values.chunks(1000) {
        crate::insert_rows!(conn, import_rows::table, chunk)?;
    }
    Ok(())
}

/// The reasons of the rejected rows, by row number.
pub fn rejected(conn: &mut DbConn, id: i64) -> QueryResult<std::collections::HashMap<i64, String>> {
    let rows: Vec<(i64, Option<String>)> = import_rows::table
        .filter(import_rows::import_id.eq(id))
        .filter(import_rows::outcome.eq(super::model::RowOutcome::Error.as_str()))
        .select((import_rows::row_no, import_rows::reasons))
        .load(conn)?;
    Ok(rows.into_iter().map(|(r, reasons)| (r, reasons.unwrap_or_default())).collect())
}

/// Claims up to `limit` rows that wrote something and are not reverted yet, marking them
/// reverted in the caller's transaction: two reverts never undo one row twice.
pub fn claim_for_revert(conn: &mut DbConn, id: i64, limit: i64) -> QueryResult<Vec<RowRecord>> {
    let candidates: Vec<i64> = import_rows::table
        .filter(import_rows::import_id.eq(id))
        .filter(import_rows::reverted.eq(false))
        .filter(import_rows::outcome.eq_any(["create", "update"]))
        .select(import_rows::row_no)
        .order(import_rows::row_no.asc())
        .limit(limit)
        .load(conn)?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let claimed: Vec<i64> = diesel::update(
        import_rows::table
            .filter(import_rows::import_id.eq(id))
            .filter(import_rows::row_no.eq_any(&candidates))
            .filter(import_rows::reverted.eq(false)),
    )
    .set(import_rows::reverted.eq(true))
    .returning(import_rows::row_no)
    .get_results(conn)?;
    import_rows::table
        .filter(import_rows::import_id.eq(id))
        .filter(import_rows::row_no.eq_any(claimed))
        .select(RowRecord::as_select())
        .order(import_rows::row_no.asc())
        .load(conn)
}

/// Done or failed (or a revert cut short) → reverted, with what the revert did.
pub fn mark_reverted(conn: &mut DbConn, id: i64, summary: &str) -> QueryResult<ImportRow> {
    let at = now();
    diesel::update(imports::table.find(id))
        .set((
            imports::state.eq(ImportState::Reverted.as_str()),
            imports::reverted.eq(Some(summary)),
            imports::reverted_at.eq(Some(at)),
            imports::version.eq(imports::version + 1),
            imports::updated_at.eq(at),
        ))
        .returning(imports::all_columns)
        .get_result(conn)
}

/// The custom fields the rows of the entity may fill (sales have none).
pub fn schema(conn: &mut DbConn, entity: ImportEntity) -> QueryResult<crate::custom_fields::Schema> {
    use crate::custom_fields::CustomEntity;
    match entity {
        ImportEntity::Clients => crate::custom_fields::repo::schema(conn, CustomEntity::Client),
        ImportEntity::Contacts => crate::custom_fields::repo::schema(conn, CustomEntity::Contact),
        ImportEntity::Sales => Ok(crate::custom_fields::Schema::default()),
    }
}

/// The active users and channels rows may name, and the entity's custom fields.
pub fn lookups(conn: &mut DbConn, region: phonenumber::country::Id, entity: ImportEntity) -> QueryResult<Lookups> {
    let people: Vec<(i64, String, String)> =
        users::table.filter(users::active.eq(true)).select((users::id, users::email, users::name)).load(conn)?;
    let channels: Vec<(String, String)> =
        channels::table.filter(channels::active.eq(true)).select((channels::code, channels::name)).load(conn)?;
    Ok(Lookups::new(people, channels, region, schema(conn, entity)?))
}
