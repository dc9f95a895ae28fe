//! Team rules: a non-blank unique name, an active lead, active members each listed once, an
//! active channel; every change put on record, since membership decides who sees what.

use std::collections::HashSet;

use serde_json::json;

use super::model::{NewTeam, Team, TeamPatch};
use super::repo::{self, TeamFields};
use crate::audit::{self, Entry};
use crate::auth::Caller;
use crate::db::DbConn;
use crate::error::{ApiError, FieldErrors};
use crate::{channels, users};

pub fn create(conn: &mut DbConn, who: &Caller, input: NewTeam) -> Result<Team, ApiError> {
    let sent = Sent { lead: true, members: Some(&input.members), channel: true };
    let fields = TeamFields { name: input.name, lead_id: input.lead_id, region: input.region, channel: input.channel };
    let fields = check(conn, fields, sent)?;
    let id = repo::insert(conn, &fields)?;
    repo::set_members(conn, id, &input.members)?;
    let team = repo::get(conn, id)?;
    put_on_record(conn, who, "teams.create", &team)?;
    Ok(team)
}

pub fn update(
    conn: &mut DbConn,
    who: &Caller,
    id: i64,
    patch: TeamPatch,
    expected: Option<i64>,
) -> Result<Team, ApiError> {
    let current = repo::get(conn, id)?;
    crate::versioning::expect(expected, current.version)?;
    let sent =
        Sent { lead: patch.lead_id.is_some(), members: patch.members.as_deref(), channel: patch.channel.is_some() };
    let fields = TeamFields {
        name: patch.name.unwrap_or(current.name),
        lead_id: patch.lead_id.unwrap_or(current.lead_id),
        region: patch.region.unwrap_or(current.region),
        channel: patch.channel.unwrap_or(current.channel),
    };
    let fields = check(conn, fields, sent)?;
    repo::update(conn, id, current.version, &fields)?;
    if let Some(members) = &patch.members {
        repo::set_members(conn, id, members)?;
    }
    let team = repo::get(conn, id)?;
    put_on_record(conn, who, "teams.update", &team)?;
    Ok(team)
}

pub fn delete(conn: &mut DbConn, who: &Caller, id: i64, expected: Option<i64>) -> Result<(), ApiError> {
    let current = repo::get(conn, id)?;
    crate::versioning::expect(expected, current.version)?;
    repo::delete(conn, id)?;
    put_on_record(conn, who, "teams.delete", &current)
}

/// What a write sets afresh, and so checks against the users and channels as they are now: a
/// member or lead deactivated, or a channel switched off, since they were set does not block a
/// change to the rest of the team.
struct Sent<'a> {
    lead: bool,
    members: Option<&'a [i64]>,
    channel: bool,
}

/// The fields trimmed, or 422 naming every field that breaks a rule.
fn check(conn: &mut DbConn, mut f: TeamFields, sent: Sent<'_>) -> Result<TeamFields, ApiError> {
    let mut errors = FieldErrors::new();
    f.name = f.name.trim().to_string();
    errors.check(!f.name.is_empty(), "name", "must not be blank");
    errors.check(f.name.chars().count() <= 200, "name", "must be at most 200 characters");
    f.region = f.region.map(|r| r.trim().to_string());
    if let Some(region) = &f.region {
        errors.check(!region.is_empty(), "region", "must not be blank (null clears it)");
        errors.check(region.chars().count() <= 200, "region", "must be at most 200 characters");
    }
    let members = sent.members.unwrap_or_default();
    errors.check(members.len() <= 500, "members", "a team has at most 500 members");
    let lead = f.lead_id.filter(|_| sent.lead);
    let mut wanted: Vec<i64> = members.to_vec();
    wanted.extend(lead);
    let active: HashSet<i64> = if wanted.is_empty() {
        HashSet::new()
    } else {
        users::repo::active_among(conn, &wanted)?.into_iter().collect()
    };
    if let Some(lead) = lead {
        errors.check(active.contains(&lead), "lead_id", "is not an active user");
    }
    let mut seen = HashSet::new();
    for (i, m) in members.iter().enumerate() {
        errors.check(active.contains(m), format_args!("members[{i}]"), "is not an active user");
        errors.check(seen.insert(*m), format_args!("members[{i}]"), "appears twice");
    }
    if let Some(channel) = f.channel.as_ref().filter(|_| sent.channel) {
        let known = channels::repo::active_codes(conn)?;
        errors.check(known.contains(channel), "channel", format_args!("'{channel}' is not an active channel"));
    }
    errors.into_result()?;
    Ok(f)
}

fn put_on_record(conn: &mut DbConn, who: &Caller, action: &str, team: &Team) -> Result<(), ApiError> {
    let details = json!({"name": team.name, "lead_id": team.lead_id, "members": team.members});
    audit::record(conn, who, Entry { action, allowed: true, target: Some(("team", team.id)), details })?;
    Ok(())
}
