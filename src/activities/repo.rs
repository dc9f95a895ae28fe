//! Activity storage: reads limited to the live activities the caller may see, the writes, and
//! the lookups of a client's contacts and deals an activity may name.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{Activity, ActivityFilter, ActivityRow, ActivityWrite};
use crate::db::schema::{activities, clients, contacts, deals};
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{self, page_from, Cursor, Page};
use crate::versioning::AtReadVersion;
use crate::{keyset, order_keyset};

/// Live activities of live clients; a manager sees those of clients they own and those they wrote.
macro_rules! visible_activities {
    ($owner_only:expr) => {{
        let mut q = activities::table
            .inner_join(clients::table)
            .filter(activities::deleted_at.is_null())
            .filter(clients::deleted_at.is_null())
            .select(activities::all_columns)
            .into_boxed::<Db>();
        if let Some(me) = $owner_only {
            q = q.filter(crate::clients::visibility::owns(me).or(activities::author_id.eq(me)));
        }
        q
    }};
}

pub fn get(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<Activity, ApiError> {
    let row: ActivityRow = visible_activities!(owner_only).filter(activities::id.eq(id)).first(conn)?;
    Ok(row.into())
}

pub fn list(
    conn: &mut DbConn,
    f: &ActivityFilter,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<Activity>, ApiError> {
    const TAG: &str = "-occurred_at";
    let mut q = visible_activities!(f.owner_only);
    if let Some(v) = f.client_id {
        q = q.filter(activities::client_id.eq(v));
    }
    if let Some(v) = f.deal_id {
        q = q.filter(activities::deal_id.eq(v));
    }
    if let Some(v) = f.contact_id {
        q = q.filter(activities::contact_id.eq(v));
    }
    if let Some(v) = f.author_id {
        q = q.filter(activities::author_id.eq(v));
    }
    if let Some(v) = f.activity_type {
        q = q.filter(activities::activity_type.eq(v.as_str()));
    }
    if let Some(v) = f.occurred_from {
        q = q.filter(activities::occurred_at.ge(v));
    }
    if let Some(v) = f.occurred_to {
        q = q.filter(activities::occurred_at.lt(v));
    }
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, TAG)?;
        q = keyset!(q, activities::occurred_at, activities::id, c.timestamp()?, c.id, true);
    }
    q = order_keyset!(q, activities::occurred_at, activities::id, true);
    let rows: Vec<ActivityRow> = q.limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor { sort: TAG.into(), key: pagination::ts_key(r.occurred_at), id: r.id })
        .map(Activity::from))
}

pub(super) fn insert(
    conn: &mut DbConn,
    write: ActivityWrite,
    client_id: i64,
    author_id: Option<i64>,
    external_ref: Option<String>,
) -> QueryResult<ActivityRow> {
    let at = now();
    diesel::insert_into(activities::table)
        .values((
            write,
            activities::client_id.eq(client_id),
            activities::author_id.eq(author_id),
            activities::external_ref.eq(external_ref),
            activities::version.eq(1i64),
            activities::created_at.eq(at),
            activities::updated_at.eq(at),
        ))
        .returning(activities::all_columns)
        .get_result(conn)
}

/// Writes the values if the activity is still at `version` the caller read.
pub(super) fn update_at(conn: &mut DbConn, id: i64, version: i64, w: ActivityWrite) -> Result<ActivityRow, ApiError> {
    diesel::update(activities::table.filter(activities::id.eq(id)).filter(activities::version.eq(version)))
        .set((w, activities::version.eq(version + 1), activities::updated_at.eq(now())))
        .returning(activities::all_columns)
        .get_result(conn)
        .at_read_version()
}

/// Marks the activity deleted at `at`, one version after `version`.
pub(super) fn soft_delete(conn: &mut DbConn, id: i64, version: i64, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(activities::table.find(id))
        .set((activities::deleted_at.eq(Some(at)), activities::updated_at.eq(at), activities::version.eq(version + 1)))
        .execute(conn)
}

/// Whether `contact` is a live contact person of the client.
pub(super) fn is_contact_of(conn: &mut DbConn, contact: i64, client_id: i64) -> QueryResult<bool> {
    let n: i64 = contacts::table
        .filter(contacts::id.eq(contact))
        .filter(contacts::client_id.eq(client_id))
        .filter(contacts::deleted_at.is_null())
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Whether `deal` is a live deal of the client.
pub(super) fn is_deal_of(conn: &mut DbConn, deal: i64, client_id: i64) -> QueryResult<bool> {
    let n: i64 = deals::table
        .filter(deals::id.eq(deal))
        .filter(deals::client_id.eq(client_id))
        .filter(deals::deleted_at.is_null())
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Activities by id, for the timeline (one query).
pub fn by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Activity>> {
    let rows: Vec<ActivityRow> =
        activities::table.filter(activities::id.eq_any(ids)).select(ActivityRow::as_select()).load(conn)?;
    Ok(rows.into_iter().map(Activity::from).collect())
}
