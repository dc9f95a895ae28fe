//! Channel queries.

use diesel::prelude::*;

use super::model::{ChannelPatch, ChannelRow, NewChannel};
use crate::db::schema::channels;
use crate::db::{now, DbConn};
use crate::error::ApiError;

/// The codes of the active channels, the ones a card may be given.
pub fn active_codes(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    channels::table.filter(channels::active.eq(true)).select(channels::code).load(conn)
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<ChannelRow>> {
    channels::table.select(ChannelRow::as_select()).order(channels::code).load(conn)
}

pub fn create(conn: &mut DbConn, input: &NewChannel) -> Result<ChannelRow, ApiError> {
    diesel::insert_into(channels::table)
        .values((
            channels::code.eq(&input.code),
            channels::name.eq(input.name.trim()),
            channels::active.eq(true),
            channels::created_at.eq(now()),
        ))
        .returning(channels::all_columns)
        .get_result(conn)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict(format!("channel '{}' already exists", input.code)),
            other => other,
        })
}

pub fn update(conn: &mut DbConn, code: &str, patch: &ChannelPatch) -> QueryResult<ChannelRow> {
    let target = channels::table.filter(channels::code.eq(code));
    if let Some(name) = &patch.name {
        diesel::update(target).set(channels::name.eq(name.trim())).execute(conn)?;
    }
    if let Some(active) = patch.active {
        diesel::update(target).set(channels::active.eq(active)).execute(conn)?;
    }
    target.select(ChannelRow::as_select()).first(conn)
}
