//! Segments: saved filters over the base that evaluate live — by card fields, purchase figures,
//! revenue over a period, ABC/XYZ and ABCDE classes, or "the top N by revenue" (the VIP 100).

pub mod api;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::analytics::abc_xyz::{self, Abc, Thresholds, Xyz};
use crate::analytics::abcde::{self, Abcde, Cutoffs};
use crate::analytics::{client_sums, today, Measure, ReportScope};
use crate::clients::model::{Client, ClientStatus};
use crate::db::schema::{client_tags, clients, segments, users};
use crate::db::{now, Db, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::money;
use crate::pagination::{page_from, Cursor, KeyValue, Page};
use crate::versioning::AtReadVersion;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = segments)]
pub struct SegmentRow {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub filter: String,
    pub owner_id: Option<i64>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What a client must match to be in the segment. Lists match any of their values; all the
/// criteria given must hold. Revenue and classes are computed over the last `period_months`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<ClientStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<Vec<i64>>,
    /// Clients with any of these tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abc: Option<Vec<Abc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xyz: Option<Vec<Xyz>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abcde: Option<Vec<Abcde>>,
    /// Last purchase strictly before this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_purchase_before: Option<NaiveDate>,
    /// Last purchase strictly after this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_purchase_after: Option<NaiveDate>,
    /// Revenue over the period at least this (a decimal amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_min: Option<String>,
    /// Revenue over the period at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue_max: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_email: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_phone: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailing_consent: Option<bool>,
    /// Of the clients matching the rest, only the N with the most revenue over the period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_by_revenue: Option<i64>,
    /// Months back from today for revenue and classes (default 12).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_months: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Segment {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub filter: SegmentFilter,
    /// Who created it.
    pub owner_id: Option<i64>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<SegmentRow> for Segment {
    fn from(r: SegmentRow) -> Segment {
        Segment {
            id: r.id,
            name: r.name,
            description: r.description,
            filter: serde_json::from_str(&r.filter).unwrap_or_default(),
            owner_id: r.owner_id,
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSegment {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub description: Option<String>,
    pub filter: SegmentFilter,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub description: Option<String>,
    /// Replaces the whole filter.
    pub filter: Option<SegmentFilter>,
}

fn list_ok<T>(list: &Option<Vec<T>>, field: &str, errors: &mut FieldErrors) {
    if let Some(l) = list {
        errors.check(!l.is_empty() && l.len() <= 100, format_args!("filter.{field}"), "must list 1 to 100 values");
    }
}

/// Field-level validation of a filter (with the database for channels and owners).
pub fn validate_filter(conn: &mut DbConn, f: &mut SegmentFilter, errors: &mut FieldErrors) -> QueryResult<()> {
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
            let known: i64 = crate::db::schema::channels::table
                .filter(crate::db::schema::channels::code.eq(ch))
                .count()
                .get_result(conn)?;
            errors.check(known > 0, format_args!("filter.channel[{i}]"), format_args!("'{ch}' is not a channel"));
        }
    }
    if let Some(owners) = &f.owner_id {
        let known: HashSet<i64> =
            users::table.filter(users::id.eq_any(owners)).select(users::id).load(conn)?.into_iter().collect();
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
    Ok(())
}

impl SegmentFilter {
    fn needs_sales(&self) -> bool {
        self.revenue_min.is_some()
            || self.revenue_max.is_some()
            || self.top_by_revenue.is_some()
            || self.needs_classes()
    }

    fn needs_classes(&self) -> bool {
        self.abc.is_some() || self.xyz.is_some() || self.abcde.is_some()
    }

    fn period(&self) -> ReportScope {
        let to = today();
        let months = self.period_months.unwrap_or(12);
        let from = to - Duration::days((months * 365 / 12).max(1) - 1);
        ReportScope { from, to, channel: None, owner_id: None, region: None }
    }
}

/// The ids of the clients in the segment, ascending, among those the caller may see.
pub fn members(conn: &mut DbConn, f: &SegmentFilter, owner_only: Option<i64>) -> Result<Vec<i64>, ApiError> {
    let mut q = clients::table.filter(clients::deleted_at.is_null()).select(clients::id).into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, owner_only);
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
    let mut ids: Vec<i64> = q.order(clients::id.asc()).load(conn)?;
    if !f.needs_sales() {
        return Ok(ids);
    }
    // Revenue and classes come from the whole base over the period, like the reports.
    let scope = f.period();
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

fn check_name(name: &str, errors: &mut FieldErrors) {
    let n = name.trim().chars().count();
    errors.check((1..=200).contains(&n), "name", "must be 1 to 200 characters");
}

pub fn create(conn: &mut DbConn, mut input: NewSegment, owner_id: Option<i64>) -> Result<Segment, ApiError> {
    let mut errors = FieldErrors::new();
    check_name(&input.name, &mut errors);
    validate_filter(conn, &mut input.filter, &mut errors)?;
    errors.into_result()?;
    let at = now();
    let row: SegmentRow = diesel::insert_into(segments::table)
        .values((
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

pub fn update(conn: &mut DbConn, id: i64, patch: SegmentPatch, expected: Option<i64>) -> Result<Segment, ApiError> {
    let current = get(conn, id)?;
    crate::versioning::expect(expected, current.version)?;
    let mut errors = FieldErrors::new();
    if let Some(n) = &patch.name {
        check_name(n, &mut errors);
    }
    let mut filter = patch.filter.unwrap_or(current.filter);
    validate_filter(conn, &mut filter, &mut errors)?;
    errors.into_result()?;
    let row: SegmentRow =
        diesel::update(segments::table.filter(segments::id.eq(id)).filter(segments::version.eq(current.version)))
            .set((
                segments::name.eq(patch.name.as_deref().map_or(current.name.clone(), |n| n.trim().to_string())),
                segments::description.eq(patch.description.or(current.description)),
                segments::filter.eq(serde_json::to_string(&filter).unwrap_or_default()),
                segments::version.eq(current.version + 1),
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
