//! Contact storage: reads limited to live contacts of live clients the caller may see, the
//! writes, and the contact points index kept in step.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{Contact, ContactFields, ContactRow, ContactWrite};
use crate::clients::contact_points;
use crate::db::schema::{clients, contacts};
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{page_from, Cursor, KeyValue, Page};
use crate::versioning::AtReadVersion;

/// A live contact of a live client the caller may see (ownership checked in the query).
pub fn get(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<Contact, ApiError> {
    let mut q = contacts::table
        .inner_join(clients::table)
        .filter(contacts::id.eq(id))
        .filter(contacts::deleted_at.is_null())
        .filter(clients::deleted_at.is_null())
        .select(contacts::all_columns)
        .into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, owner_only);
    let row: ContactRow = q.first(conn)?;
    Ok(row.into())
}

pub fn list(
    conn: &mut DbConn,
    client_id: i64,
    owner_only: Option<i64>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<Contact>, ApiError> {
    crate::clients::repo::get_row(conn, client_id, owner_only)?;
    let mut q = contacts::table
        .filter(contacts::client_id.eq(client_id))
        .filter(contacts::deleted_at.is_null())
        .select(contacts::all_columns)
        .into_boxed::<Db>();
    if let Some(raw) = cursor {
        q = q.filter(contacts::id.gt(Cursor::decode(raw, "id")?.id));
    }
    let rows: Vec<ContactRow> = q.order(contacts::id.asc()).limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor { sort: "id".into(), key: KeyValue::Null, id: r.id }).map(Contact::from))
}

/// The live contacts of these clients (imports match rows against them), in one query per
/// thousand clients.
pub fn of_clients(conn: &mut DbConn, client_ids: &[i64]) -> QueryResult<Vec<Contact>> {
    let mut out = Vec::new();
    for chunk in client_ids.chunks(1000) {
        let rows: Vec<ContactRow> = contacts::table
            .filter(contacts::client_id.eq_any(chunk))
            .filter(contacts::deleted_at.is_null())
            .select(contacts::all_columns)
            .order(contacts::id)
            .load(conn)?;
        out.extend(rows.into_iter().map(Contact::from));
    }
    Ok(out)
}

pub(super) fn insert(conn: &mut DbConn, write: ContactWrite, client_id: i64) -> QueryResult<ContactRow> {
    let at = now();
    diesel::insert_into(contacts::table)
        .values((
            write,
            contacts::client_id.eq(client_id),
            contacts::version.eq(1i64),
            contacts::created_at.eq(at),
            contacts::updated_at.eq(at),
        ))
        .returning(contacts::all_columns)
        .get_result(conn)
}

/// Writes the fields if the contact is still at `version` the caller read.
pub(super) fn update_at(conn: &mut DbConn, id: i64, version: i64, write: ContactWrite) -> Result<ContactRow, ApiError> {
    diesel::update(contacts::table.filter(contacts::id.eq(id)).filter(contacts::version.eq(version)))
        .set((write, contacts::version.eq(version + 1), contacts::updated_at.eq(now())))
        .returning(contacts::all_columns)
        .get_result(conn)
        .at_read_version()
}

/// Marks the contact deleted at `at`, one version after `version`, and takes its phones and
/// emails out of the contact points index.
pub(super) fn soft_delete(
    conn: &mut DbConn,
    id: i64,
    client_id: i64,
    version: i64,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(contacts::table.find(id))
        .set((contacts::deleted_at.eq(Some(at)), contacts::updated_at.eq(at), contacts::version.eq(version + 1)))
        .execute(conn)?;
    crate::custom_fields::repo::remove_values(conn, crate::custom_fields::CustomEntity::Contact, &[id])?;
    contact_points::replace(conn, client_id, Some(id), &[], &[])
}

/// Keeps the contact points index in step with the contact's phones and emails, and the value
/// index with its custom fields (`replace`: the contact had values before).
pub(super) fn index(
    conn: &mut DbConn,
    fields: &ContactFields,
    schema: &crate::custom_fields::Schema,
    client_id: i64,
    contact_id: i64,
    replace: bool,
) -> QueryResult<()> {
    crate::custom_fields::repo::write_values(conn, schema, &[(contact_id, &fields.custom_fields)], replace)?;
    let phones: Vec<String> = fields.phones.iter().map(|p| p.number.clone()).collect();
    let emails: Vec<String> = fields.emails.iter().map(|e| e.address.clone()).collect();
    contact_points::replace(conn, client_id, Some(contact_id), &phones, &emails)
}
