//! The rules of segments: a filter's validation, evaluating a segment (card fields, then
//! revenue and classes over the period, like the reports), and counting and listing its members.

use std::collections::HashMap;

use diesel::QueryResult;

use super::model::{NewSegment, Segment, SegmentFilter, SegmentPatch};
use super::repo;
use crate::analytics::abc_xyz::{self, Abc, Thresholds, Xyz};
use crate::analytics::abcde::{self, Cutoffs};
use crate::analytics::{client_sums, Measure};
use crate::clients::model::Client;
use crate::db::DbConn;
use crate::error::{ApiError, FieldErrors};
use crate::money;
use crate::pagination::Page;

fn list_ok<T>(list: &Option<Vec<T>>, field: &str, errors: &mut FieldErrors) {
    if let Some(l) = list {
        errors.check(!l.is_empty() && l.len() <= 100, format_args!("filter.{field}"), "must list 1 to 100 values");
    }
}

/// Field-level validation of a filter (with the database for channels and owners).
/// Custom field tests are checked against the definitions, and phone values in them written
/// in E.164 (national numbers read in `region`), so that the stored filter reads the same
/// wherever it is evaluated.
pub fn validate_filter(
    conn: &mut DbConn,
    f: &mut SegmentFilter,
    region: phonenumber::country::Id,
    errors: &mut FieldErrors,
) -> QueryResult<()> {
    list_ok(&f.status, "status", errors);
    list_ok(&f.channel, "channel", errors);
    list_ok(&f.region, "region", errors);
    list_ok(&f.industry, "industry", errors);
    list_ok(&f.owner_id, "owner_id", errors);
    list_ok(&f.tags, "tags", errors);
    list_ok(&f.abc, "abc", errors);
    list_ok(&f.xyz, "xyz", errors);
    list_ok(&f.abcde, "abcde", errors);
    if let Some(tags) = &mut f.tags {
        *tags = tags.iter().map(|t| t.trim().to_lowercase()).collect();
    }
    if let Some(channels) = &f.channel {
        for (i, ch) in channels.iter().enumerate() {
            let known = repo::channel_exists(conn, ch)?;
            errors.check(known, format_args!("filter.channel[{i}]"), format_args!("'{ch}' is not a channel"));
        }
    }
    if let Some(owners) = &f.owner_id {
        let known = repo::known_users(conn, owners)?;
        for (i, o) in owners.iter().enumerate() {
            errors.check(known.contains(o), format_args!("filter.owner_id[{i}]"), "is not a user");
        }
    }
    let min = f.revenue_min.as_deref().map(money::parse_minor);
    let max = f.revenue_max.as_deref().map(money::parse_minor);
    if let Some(Err(m)) = &min {
        errors.add("filter.revenue_min", m.clone());
    }
    if let Some(Err(m)) = &max {
        errors.add("filter.revenue_max", m.clone());
    }
    if let (Some(Ok(a)), Some(Ok(b))) = (&min, &max) {
        errors.check(a <= b, "filter.revenue_min", "must not exceed revenue_max");
    }
    if let (Some(before), Some(after)) = (f.last_purchase_before, f.last_purchase_after) {
        errors.check(after < before, "filter.last_purchase_after", "must be before last_purchase_before");
    }
    if let Some(n) = f.top_by_revenue {
        errors.check((1..=100_000).contains(&n), "filter.top_by_revenue", "must be between 1 and 100000");
    }
    if let Some(m) = f.period_months {
        errors.check((1..=120).contains(&m), "filter.period_months", "must be between 1 and 120");
    }
    if let Some(tests) = &mut f.custom_fields {
        let schema = crate::custom_fields::repo::schema(conn, crate::custom_fields::CustomEntity::Client)?;
        schema.predicates(tests, "filter.custom_fields", region, errors);
        schema.phones_in_e164(tests, region);
    }
    Ok(())
}

/// The ids of the clients in the segment, ascending, among those the caller may see.
pub fn members(conn: &mut DbConn, f: &SegmentFilter, owner_only: Option<i64>) -> Result<Vec<i64>, ApiError> {
    members_within(conn, f, owner_only, None, crate::analytics::today())
}

/// [`members`] among the clients `within` when given (an automation checking one event's
/// client), with revenue and classes over the period up to `day` (an automation's `as_of`).
pub fn members_within(
    conn: &mut DbConn,
    f: &SegmentFilter,
    owner_only: Option<i64>,
    within: Option<&[i64]>,
    day: chrono::NaiveDate,
) -> Result<Vec<i64>, ApiError> {
    let mut ids = repo::matching(conn, f, owner_only, within)?;
    if !f.needs_sales() {
        return Ok(ids);
    }
    // Revenue and classes come from the whole base over the period, like the reports.
    let scope = f.period(day);
    let sums = client_sums(conn, &scope, Measure::Revenue)?;
    let revenue: HashMap<i64, i64> = sums.iter().map(|s| (s.client_id, s.value)).collect();
    let rev = |id: &i64| revenue.get(id).copied().unwrap_or(0);
    if let Some(Ok(min)) = f.revenue_min.as_deref().map(money::parse_minor) {
        ids.retain(|id| rev(id) >= min);
    }
    if let Some(Ok(max)) = f.revenue_max.as_deref().map(money::parse_minor) {
        ids.retain(|id| rev(id) <= max);
    }
    if f.abc.is_some() || f.xyz.is_some() {
        let t = Thresholds { a: 80.0, b: 95.0, x: 10.0, y: 25.0, min_purchases: 0 };
        let classified = abc_xyz::classify(sums, scope.months(), &t);
        let classes: HashMap<i64, (Abc, Xyz)> = classified.iter().map(|c| (c.sums.client_id, (c.abc, c.xyz))).collect();
        ids.retain(|id| match classes.get(id) {
            Some((a, x)) => {
                f.abc.as_ref().is_none_or(|l| l.contains(a)) && f.xyz.as_ref().is_none_or(|l| l.contains(x))
            }
            None => false,
        });
    }
    if let Some(wanted) = &f.abcde {
        let candidates = crate::analytics::repo::abcde_candidates(conn, &scope)?;
        let classes = abcde::classify(&candidates, &Cutoffs { max_share: 20.0, high_share: 50.0 });
        ids.retain(|id| classes.get(id).is_some_and(|c| wanted.contains(c)));
    }
    if let Some(n) = f.top_by_revenue {
        ids.sort_by(|a, b| rev(b).cmp(&rev(a)).then(a.cmp(b)));
        ids.truncate(n as usize);
        ids.sort_unstable();
    }
    Ok(ids)
}

/// How many clients the caller may see are in the segment now.
pub fn member_count(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<usize, ApiError> {
    let segment = repo::get(conn, id)?;
    Ok(members(conn, &segment.filter, owner_only)?.len())
}

/// A page of the clients the caller may see in the segment now, by id.
pub fn member_clients(
    conn: &mut DbConn,
    id: i64,
    owner_only: Option<i64>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<Client>, ApiError> {
    let segment = repo::get(conn, id)?;
    let ids = members(conn, &segment.filter, owner_only)?;
    repo::member_page(conn, &ids, cursor, limit)
}

fn check_name(name: &str, errors: &mut FieldErrors) {
    let n = name.trim().chars().count();
    errors.check((1..=200).contains(&n), "name", "must be 1 to 200 characters");
}

pub fn create(
    conn: &mut DbConn,
    mut input: NewSegment,
    owner_id: Option<i64>,
    region: phonenumber::country::Id,
) -> Result<Segment, ApiError> {
    let mut errors = FieldErrors::new();
    check_name(&input.name, &mut errors);
    validate_filter(conn, &mut input.filter, region, &mut errors)?;
    errors.into_result()?;
    Ok(repo::insert(conn, &input, owner_id)?)
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: SegmentPatch,
    expected: Option<i64>,
    region: phonenumber::country::Id,
) -> Result<Segment, ApiError> {
    let current = repo::get(conn, id)?;
    crate::versioning::expect(expected, current.version)?;
    let mut errors = FieldErrors::new();
    if let Some(n) = &patch.name {
        check_name(n, &mut errors);
    }
    let mut filter = patch.filter.unwrap_or(current.filter);
    validate_filter(conn, &mut filter, region, &mut errors)?;
    errors.into_result()?;
    let name = patch.name.as_deref().map_or(current.name.clone(), |n| n.trim().to_string());
    repo::update(conn, id, current.version, name, patch.description.or(current.description), &filter)
}
