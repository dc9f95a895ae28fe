//! Segment storage and the card-field part of a segment's evaluation: which live clients the
//! caller may see match the filter's fields, and a page of those clients.

use std::collections::HashSet;

use diesel::prelude::*;

use super::model::{NewSegment, Segment, SegmentFilter, SegmentRow};
use crate::clients::model::Client;
use crate::db::schema::{channels, client_tags, clients, segments, users};
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{page_from, Cursor, KeyValue, Page};
use crate::versioning::AtReadVersion;

/// The ids of the live clients the caller may see whose card matches the filter's fields,
/// ascending, among `within` when given (revenue and classes are left to
/// [`super::service::members`]).
pub fn matching(
    conn: &mut DbConn,
    f: &SegmentFilter,
    owner_only: Option<i64>,
    within: Option<&[i64]>,
) -> QueryResult<Vec<i64>> {
    // Members are clients: a card that is only a supplier, partner or competitor is none.
    let mut q = clients::table
        .filter(clients::deleted_at.is_null())
        .filter(crate::clients::repo::is_client())
        .select(clients::id)
        .into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, owner_only);
    if let Some(ids) = within {
        q = q.filter(clients::id.eq_any(ids.to_vec()));
    }
    if let Some(v) = &f.status {
        q = q.filter(clients::status.eq_any(v.iter().map(|s| s.as_str()).collect::<Vec<_>>()));
    }
    if let Some(v) = &f.channel {
        q = q.filter(clients::channel.eq_any(v.clone()));
    }
    if let Some(v) = &f.region {
        q = q.filter(clients::region.eq_any(v.clone()));
    }
    if let Some(v) = &f.industry {
        q = q.filter(clients::industry.eq_any(v.clone()));
    }
    if let Some(v) = &f.owner_id {
        q = q.filter(clients::owner_id.eq_any(v.clone()));
    }
    if let Some(v) = &f.tags {
        q = q.filter(
            clients::id
                .eq_any(client_tags::table.filter(client_tags::tag.eq_any(v.clone())).select(client_tags::client_id)),
        );
    }
    if let Some(d) = f.last_purchase_before {
        q = q.filter(clients::last_purchase_on.lt(d));
    }
    if let Some(d) = f.last_purchase_after {
        q = q.filter(clients::last_purchase_on.gt(d));
    }
    match f.has_email {
        Some(true) => q = q.filter(clients::emails.ne("[]")),
        Some(false) => q = q.filter(clients::emails.eq("[]")),
        None => {}
    }
    match f.has_phone {
        Some(true) => q = q.filter(clients::phones.ne("[]")),
        Some(false) => q = q.filter(clients::phones.eq("[]")),
        None => {}
    }
    if let Some(v) = f.mailing_consent {
        q = q.filter(clients::mailing_consent.eq(v));
    }
    if let Some(tests) = &f.custom_fields {
        let schema = crate::custom_fields::repo::schema(conn, crate::custom_fields::CustomEntity::Client)?;
        let mut errors = crate::error::FieldErrors::new();
        // Saved filters hold phones in E.164 (`validate_filter`), which read alike in any region.
        let predicates = schema.predicates(tests, "custom_fields", phonenumber::country::Id::RU, &mut errors);
        // A field archived or made unfilterable since the segment was saved matches no one.
        if !errors.is_empty() {
            return Ok(Vec::new());
        }
        for p in &predicates {
            q = crate::clients::repo::custom_field_test(q, p);
        }
    }
    q.order(clients::id.asc()).load(conn)
}

/// A page of members, by id.
pub fn member_page(conn: &mut DbConn, ids: &[i64], cursor: Option<&str>, limit: i64) -> Result<Page<Client>, ApiError> {
    let after = cursor.map(|c| Cursor::decode(c, "segment")).transpose()?.map(|c| c.id);
    let start = after.map_or(0, |a| ids.partition_point(|id| *id <= a));
    let slice: Vec<i64> = ids[start..].iter().take(limit as usize + 1).copied().collect();
    let page = page_from(slice, limit, |id| Cursor { sort: "segment".into(), key: KeyValue::Null, id: *id });
    let rows: Vec<crate::clients::model::ClientRow> =
        clients::table.filter(clients::id.eq_any(&page.items)).order(clients::id.asc()).load(conn)?;
    Ok(Page { items: crate::clients::repo::to_clients(conn, rows)?, next_cursor: page.next_cursor })
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<Segment, ApiError> {
    Ok(segments::table.find(id).select(SegmentRow::as_select()).first::<SegmentRow>(conn)?.into())
}

pub fn list(conn: &mut DbConn, cursor: Option<&str>, limit: i64) -> Result<Page<Segment>, ApiError> {
    let mut q = segments::table.select(SegmentRow::as_select()).into_boxed::<Db>();
    if let Some(raw) = cursor {
        q = q.filter(segments::id.gt(Cursor::decode(raw, "id")?.id));
    }
    let rows: Vec<SegmentRow> = q.order(segments::id.asc()).limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor { sort: "id".into(), key: KeyValue::Null, id: r.id }).map(Segment::from))
}

/// Whether a segment exists.
pub fn exists(conn: &mut DbConn, id: i64) -> QueryResult<bool> {
    let found: i64 = segments::table.find(id).count().get_result(conn)?;
    Ok(found > 0)
}

/// Whether a channel of that code exists.
pub fn channel_exists(conn: &mut DbConn, code: &str) -> QueryResult<bool> {
    let known: i64 = channels::table.filter(channels::code.eq(code)).count().get_result(conn)?;
    Ok(known > 0)
}

/// Which of these ids are users.
pub fn known_users(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashSet<i64>> {
    Ok(users::table.filter(users::id.eq_any(ids)).select(users::id).load(conn)?.into_iter().collect())
}

/// Stores a validated new segment.
pub fn insert(conn: &mut DbConn, input: &NewSegment, owner_id: Option<i64>) -> QueryResult<Segment> {
    let at = now();
    // Never an id a deleted row had (SQLite's rowid would hand it out again).
    let id = crate::db::allocate_ids(conn, "segments", 1)?[0];
    let row: SegmentRow = diesel::insert_into(segments::table)
        .values((
            segments::id.eq(id),
            segments::name.eq(input.name.trim()),
            segments::description.eq(input.description.as_deref().map(str::trim).filter(|d| !d.is_empty())),
            segments::filter.eq(serde_json::to_string(&input.filter).unwrap_or_default()),
            segments::owner_id.eq(owner_id),
            segments::version.eq(1i64),
            segments::created_at.eq(at),
            segments::updated_at.eq(at),
        ))
        .returning(segments::all_columns)
        .get_result(conn)?;
    Ok(row.into())
}

/// Writes a validated segment over the version that was read (412 if it changed since).
pub fn update(
    conn: &mut DbConn,
    id: i64,
    version: i64,
    name: String,
    description: Option<String>,
    filter: &SegmentFilter,
) -> Result<Segment, ApiError> {
    let row: SegmentRow =
        diesel::update(segments::table.filter(segments::id.eq(id)).filter(segments::version.eq(version)))
            .set((
                segments::name.eq(name),
                segments::description.eq(description),
                segments::filter.eq(serde_json::to_string(filter).unwrap_or_default()),
                segments::version.eq(version + 1),
                segments::updated_at.eq(now()),
            ))
            .returning(segments::all_columns)
            .get_result(conn)
            .at_read_version()?;
    Ok(row.into())
}

pub fn delete(conn: &mut DbConn, id: i64) -> Result<(), ApiError> {
    let n = diesel::delete(segments::table.find(id)).execute(conn)?;
    if n == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}
