//! Sales storage: reads limited to live clients the caller may see (through the shared
//! visibility rule), with the sales' external ids, and the writes of the pipeline.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::model::{ClientRef, Sale, SaleDraft, SaleFilter, SaleRow, SaleValues};
use crate::db::schema::{clients, sales};
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{page_from, Cursor, KeyValue, Page};
use crate::versioning::AtReadVersion;
use crate::{external_ids, keyset, order_keyset, with_backend};

pub const ENTITY: &str = "sale";

/// The clients a batch names: visible live ones with their channel, and the source's external
/// ids resolved to client ids.
pub(crate) struct ResolvedClients {
    pub visible: HashMap<i64, Option<String>>,
    pub by_external: HashMap<String, i64>,
}

/// Resolves the clients the drafts name, with two queries: live clients the actor may see, by id
/// and by the source's external id.
pub(crate) fn resolve_clients(
    conn: &mut DbConn,
    drafts: &[SaleDraft],
    source: Option<&str>,
    owner_only: Option<i64>,
) -> QueryResult<ResolvedClients> {
    let externals: Vec<&str> = drafts
        .iter()
        .filter_map(|d| match &d.client {
            Some(ClientRef::External(e)) => Some(e.as_str()),
            _ => None,
        })
        .collect();
    let by_external = match source {
        Some(s) if !externals.is_empty() => external_ids::holders(conn, crate::clients::repo::ENTITY, s, &externals)?,
        _ => HashMap::new(),
    };
    let mut ids: Vec<i64> = drafts
        .iter()
        .filter_map(|d| match &d.client {
            Some(ClientRef::Id(id)) => Some(*id),
            _ => None,
        })
        .collect();
    ids.extend(by_external.values().copied());
    let mut q = clients::table
        .filter(clients::id.eq_any(&ids))
        .filter(clients::deleted_at.is_null())
        .select((clients::id, clients::channel))
        .into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, owner_only);
    let visible: HashMap<i64, Option<String>> = q.load::<(i64, Option<String>)>(conn)?.into_iter().collect();
    Ok(ResolvedClients { visible, by_external })
}

/// The sales these rows are, with their external ids (one query).
fn with_external_ids(conn: &mut DbConn, rows: Vec<SaleRow>) -> QueryResult<Vec<Sale>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut ext = external_ids::of(conn, ENTITY, &ids)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let e = ext.remove(&r.id).unwrap_or_default();
            Sale::from_row(r, e)
        })
        .collect())
}

/// The sales of these clients on these days (imports find a row's sale already made by them).
pub fn on_days(conn: &mut DbConn, client_ids: &[i64], days: &[NaiveDate]) -> QueryResult<Vec<SaleRow>> {
    if client_ids.is_empty() || days.is_empty() {
        return Ok(Vec::new());
    }
    sales::table
        .filter(sales::client_id.eq_any(client_ids))
        .filter(sales::sold_on.eq_any(days))
        .select(SaleRow::as_select())
        .load(conn)
}

/// Sales with their external ids, in two queries.
pub fn by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Sale>> {
    let rows: Vec<SaleRow> = sales::table.filter(sales::id.eq_any(ids)).select(SaleRow::as_select()).load(conn)?;
    with_external_ids(conn, rows)
}

/// A sale of a live client the caller may see.
pub fn get(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<Sale, ApiError> {
    let mut q = sales::table
        .inner_join(clients::table)
        .filter(sales::id.eq(id))
        .filter(clients::deleted_at.is_null())
        .select(sales::id)
        .into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, owner_only);
    let id: i64 = q.first(conn)?;
    by_ids(conn, &[id])?.pop().ok_or(ApiError::NotFound)
}

/// Newest purchases first.
pub fn list(conn: &mut DbConn, f: &SaleFilter, cursor: Option<&str>, limit: i64) -> Result<Page<Sale>, ApiError> {
    const TAG: &str = "-sold_on";
    let mut q = sales::table
        .inner_join(clients::table)
        .filter(clients::deleted_at.is_null())
        .select(SaleRow::as_select())
        .into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, f.owner_only);
    if let Some(v) = f.client_id {
        q = q.filter(sales::client_id.eq(v));
    }
    if let Some(v) = f.from {
        q = q.filter(sales::sold_on.ge(v));
    }
    if let Some(v) = f.to {
        q = q.filter(sales::sold_on.le(v));
    }
    if let Some(v) = f.updated_since {
        q = q.filter(sales::updated_at.ge(v));
    }
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, TAG)?;
        let day =
            NaiveDate::parse_from_str(c.text()?, "%Y-%m-%d").map_err(|_| ApiError::query("cursor", "is malformed"))?;
        q = keyset!(q, sales::sold_on, sales::id, day, c.id, true);
    }
    q = order_keyset!(q, sales::sold_on, sales::id, true);
    let rows: Vec<SaleRow> = q.limit(limit + 1).load(conn)?;
    let page =
        page_from(rows, limit, |r| Cursor { sort: TAG.into(), key: KeyValue::Text(r.sold_on.to_string()), id: r.id });
    let items = with_external_ids(conn, page.items)?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

/// The stored rows of these sales, by id.
pub(crate) fn rows(conn: &mut DbConn, ids: Vec<i64>) -> QueryResult<HashMap<i64, SaleRow>> {
    Ok(sales::table
        .filter(sales::id.eq_any(ids))
        .select(SaleRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|r| (r.id, r))
        .collect())
}

/// Writes new values over a sale of a batch, whatever its version.
pub(crate) fn rewrite(conn: &mut DbConn, row: &SaleRow, values: &SaleValues, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(sales::table.find(row.id)).set((values.write(at), sales::version.eq(row.version + 1))).execute(conn)
}

/// Inserts new sales under ids taken up front, a statement per thousand.
pub(crate) fn insert_many<'a>(
    conn: &mut DbConn,
    ids: &[i64],
    values: impl Iterator<Item = (&'a SaleValues, &'a Option<String>)>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let rows: Vec<_> = ids
        .iter()
        .zip(values)
        .map(|(id, (values, channel))| {
            (
                sales::id.eq(*id),
                values.write(at),
                sales::channel.eq(channel.clone()),
                sales::version.eq(1i64),
                sales::created_at.eq(at),
            )
        })
        .collect();
    for chunk in rows.chunks(1000) {
        with_backend!(conn, |c| diesel::insert_into(sales::table).values(chunk).execute(c))?;
    }
    Ok(())
}

/// Writes validated values over the version that was read (412 if it changed since).
pub(crate) fn update(conn: &mut DbConn, id: i64, version: i64, values: &SaleValues) -> Result<SaleRow, ApiError> {
    diesel::update(sales::table.filter(sales::id.eq(id)).filter(sales::version.eq(version)))
        .set((values.write(now()), sales::version.eq(version + 1)))
        .returning(sales::all_columns)
        .get_result(conn)
        .at_read_version()
}

/// Deletes a sale and its external ids.
pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    external_ids::replace(conn, ENTITY, id, &BTreeMap::new())?;
    diesel::delete(sales::table.find(id)).execute(conn)?;
    Ok(())
}
