//! Team queries: a page of teams with their members in two statements, one team, and the
//! writes of a team and its member list.

use std::collections::HashMap;

use diesel::prelude::*;

use super::model::{Team, TeamRow};
use crate::db::schema::{team_members, teams};
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{page_from, Cursor, KeyValue, Page};
use crate::versioning::AtReadVersion;
use crate::with_backend;

/// The cursor tag of the only order teams are listed in.
const ORDER: &str = "id";

#[derive(Debug, Default)]
pub struct TeamFilter {
    /// Teams this user is a member of.
    pub member_id: Option<i64>,
    /// Teams this user leads.
    pub lead_id: Option<i64>,
}

/// A team's columns as written.
pub struct TeamFields {
    pub name: String,
    pub lead_id: Option<i64>,
    pub region: Option<String>,
    pub channel: Option<String>,
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<Team, ApiError> {
    let row = teams::table.find(id).select(TeamRow::as_select()).first(conn)?;
    let mut members = members_of(conn, &[id])?;
    Ok(Team::of(row, members.remove(&id).unwrap_or_default()))
}

/// Teams in id order after `cursor`, with their members.
pub fn list(conn: &mut DbConn, filter: &TeamFilter, cursor: Option<&str>, limit: i64) -> Result<Page<Team>, ApiError> {
    let mut q = teams::table.select(TeamRow::as_select()).into_boxed::<Db>();
    if let Some(user) = filter.member_id {
        let theirs = team_members::table.filter(team_members::user_id.eq(user)).select(team_members::team_id);
        q = q.filter(teams::id.eq_any(theirs));
    }
    if let Some(lead) = filter.lead_id {
        q = q.filter(teams::lead_id.eq(lead));
    }
    if let Some(raw) = cursor {
        q = q.filter(teams::id.gt(Cursor::decode(raw, ORDER)?.id));
    }
    let rows: Vec<TeamRow> = q.order(teams::id.asc()).limit(limit + 1).load(conn)?;
    let page = page_from(rows, limit, |r| Cursor { sort: ORDER.into(), key: KeyValue::Int(r.id), id: r.id });
    let ids: Vec<i64> = page.items.iter().map(|r| r.id).collect();
    let mut members = members_of(conn, &ids)?;
    Ok(page.map(|r| {
        let of_team = members.remove(&r.id).unwrap_or_default();
        Team::of(r, of_team)
    }))
}

/// The member ids of each of `teams`, ascending.
fn members_of(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, Vec<i64>>> {
    let pairs: Vec<(i64, i64)> = team_members::table
        .filter(team_members::team_id.eq_any(ids))
        .select((team_members::team_id, team_members::user_id))
        .order((team_members::team_id, team_members::user_id))
        .load(conn)?;
    let mut by_team: HashMap<i64, Vec<i64>> = HashMap::new();
    for (team, user) in pairs {
        by_team.entry(team).or_default().push(user);
    }
    Ok(by_team)
}

fn name_taken() -> ApiError {
    ApiError::Conflict("a team with this name already exists".into())
}

pub fn insert(conn: &mut DbConn, f: &TeamFields) -> Result<i64, ApiError> {
    let at = now();
    diesel::insert_into(teams::table)
        .values((
            teams::name.eq(&f.name),
            teams::lead_id.eq(f.lead_id),
            teams::region.eq(&f.region),
            teams::channel.eq(&f.channel),
            teams::version.eq(1),
            teams::created_at.eq(at),
            teams::updated_at.eq(at),
        ))
        .returning(teams::id)
        .get_result(conn)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => name_taken(),
            other => other,
        })
}

/// Writes the fields at the version read (412 when someone changed the team in between).
pub fn update(conn: &mut DbConn, id: i64, version: i64, f: &TeamFields) -> Result<(), ApiError> {
    diesel::update(teams::table.filter(teams::id.eq(id)).filter(teams::version.eq(version)))
        .set((
            teams::name.eq(&f.name),
            teams::lead_id.eq(f.lead_id),
            teams::region.eq(&f.region),
            teams::channel.eq(&f.channel),
            teams::version.eq(version + 1),
            teams::updated_at.eq(now()),
        ))
        .returning(teams::id)
        .get_result::<i64>(conn)
        .at_read_version()
        .map_err(|e| match e {
            ApiError::Conflict(_) => name_taken(),
            other => other,
        })?;
    Ok(())
}

/// Replaces the team's members with `members`.
pub fn set_members(conn: &mut DbConn, team: i64, members: &[i64]) -> QueryResult<()> {
    diesel::delete(team_members::table.filter(team_members::team_id.eq(team))).execute(conn)?;
    let rows: Vec<_> = members.iter().map(|u| (team_members::team_id.eq(team), team_members::user_id.eq(*u))).collect();
    if !rows.is_empty() {
        with_backend!(conn, |c| diesel::insert_into(team_members::table).values(rows.as_slice()).execute(c))?;
    }
    Ok(())
}

pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::delete(team_members::table.filter(team_members::team_id.eq(id))).execute(conn)?;
    diesel::delete(teams::table.filter(teams::id.eq(id))).execute(conn)?;
    Ok(())
}
