//! The `contact_points` index: one row per phone (E.164) and email of a card or of its contact
//! persons, which telephony lookup, duplicate detection and search read.

use diesel::dsl;
use diesel::prelude::*;

use crate::db::schema::contact_points;
use crate::db::{reverse, DbConn};
use crate::normalize::phone::reversed;

pub const PHONE: &str = "phone";
pub const EMAIL: &str = "email";

/// The condition "a phone contact point, one of `phones` (E.164)". It names the value twice:
/// PostgreSQL finds it through the reversed-phone index, SQLite through its index of values.
pub fn phone_in(phones: &[String]) -> PhoneIn {
    contact_points::kind
        .eq(PHONE)
        .and(contact_points::value.eq_any(phones.to_vec()))
        .and(reverse(contact_points::value).eq_any(phones.iter().map(|p| reversed(p)).collect::<Vec<_>>()))
}

pub type PhoneIn = dsl::And<
    dsl::And<dsl::Eq<contact_points::kind, &'static str>, dsl::EqAny<contact_points::value, Vec<String>>>,
    dsl::EqAny<reverse<contact_points::value>, Vec<String>>,
>;

/// Replaces the indexed phones and emails of a client card (`contact_id = None`) or of one of
/// its contact persons.
pub fn replace(
    conn: &mut DbConn,
    client_id: i64,
    contact_id: Option<i64>,
    phones: &[String],
    emails: &[String],
) -> QueryResult<()> {
    let of_client = contact_points::table.filter(contact_points::client_id.eq(client_id));
    match contact_id {
        Some(id) => diesel::delete(of_client.filter(contact_points::contact_id.eq(id))).execute(conn)?,
        None => diesel::delete(of_client.filter(contact_points::contact_id.is_null())).execute(conn)?,
    };
    let points: Vec<(i64, &str, String)> = phones
        .iter()
        .map(|p| (client_id, PHONE, p.clone()))
        .chain(emails.iter().map(|e| (client_id, EMAIL, e.clone())))
        .collect();
    insert_for(conn, &points, contact_id)
}

/// Adds `(client id, kind, value)` rows of client cards (no contact person).
pub fn insert(conn: &mut DbConn, points: &[(i64, &str, String)]) -> QueryResult<()> {
    insert_for(conn, points, None)
}

fn insert_for(conn: &mut DbConn, points: &[(i64, &str, String)], contact_id: Option<i64>) -> QueryResult<()> {
    let rows: Vec<_> = points
        .iter()
        .map(|(client_id, kind, value)| {
            (
                contact_points::client_id.eq(*client_id),
                contact_points::contact_id.eq(contact_id),
                contact_points::kind.eq(*kind),
                contact_points::value.eq(value.as_str()),
            )
        })
        .collect();
    for chunk in rows.chunks(10_000) {
        crate::insert_rows!(conn, contact_points::table, chunk)?;
    }
    Ok(())
}
