//! The rules of the analytics reports: the checks and defaults of their parameters, each report
//! assembled from its queries (`repo`) and pure computations, and the reactivation tasks.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};

use super::abc_xyz::{self, Abc, Thresholds, Xyz};
use super::abcde::{self, Abcde, Cutoffs};
use super::census;
use super::funnel::{self, GroupBy};
use super::lost::LostSort;
use super::model::{
    today, AbcXyzClient, AbcXyzReport, AbcdeClient, AbcdeReport, ChannelClasses, ClientFilters, CompletenessReport,
    FunnelReport, LostReport, Measure, ParetoReport, ReactivationReport, ReactivationTasks, ReportScope,
};
use super::pareto;
use super::reactivation::{self, Candidate};
use super::repo;
use super::summary::{self, Summary};
use crate::auth::Caller;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::events::Origin;
use crate::money;
use crate::pagination::{self, Cursor, Page};
use crate::tasks::{self, Planned, TaskType};

/// A share in percent given as a parameter, checked to lie in `[0, 100]`.
pub fn percent(value: Option<f64>, default: f64, field: &str) -> Result<f64, ApiError> {
    let v = value.unwrap_or(default);
    if !(0.0..=100.0).contains(&v) || v.is_nan() {
        return Err(ApiError::query(field, "must be a percentage between 0 and 100"));
    }
    Ok(v)
}

/// Where a page of a report ranked in memory starts: its size and the client the cursor names,
/// the cursor being tagged with `sort`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<i64>,
    pub sort: String,
}

impl PageRequest {
    /// Checks `limit`, then `cursor` against `sort`.
    pub fn new(limit: Option<i64>, cursor: Option<&str>, sort: String) -> Result<PageRequest, ApiError> {
        let limit = pagination::limit(limit)?;
        let after = cursor.map(|c| Cursor::decode(c, &sort)).transpose()?.map(|c| c.id);
        Ok(PageRequest { limit, after, sort })
    }

    fn page<T>(&self, items: Vec<T>, id_of: impl Fn(&T) -> i64, keep: impl FnMut(&T) -> bool) -> Page<T> {
        pagination::page_in_memory(items, &self.sort, self.after, self.limit, id_of, keep)
    }
}

/// The cursor tag of the ABC/XYZ ranking, one per measure.
pub fn abc_xyz_sort(measure: Measure) -> String {
    format!("abc:{measure:?}")
}

/// The cursor tag of the ABCDE list.
pub const ABCDE_SORT: &str = "abcde";

/// The cursor tag of the reactivation list.
pub const REACTIVATION_SORT: &str = "reactivation";

/// The ABC/XYZ thresholds: `a` ≤ `b` and `x` ≤ `y`, percentages, defaults 80, 95, 10 and 25; at
/// least `min_purchases` (default 3, not negative) for a sufficient history.
pub fn thresholds(
    a: Option<f64>,
    b: Option<f64>,
    x: Option<f64>,
    y: Option<f64>,
    min_purchases: Option<i64>,
) -> Result<Thresholds, ApiError> {
    let t = Thresholds {
        a: percent(a, 80.0, "a")?,
        b: percent(b, 95.0, "b")?,
        x: percent(x, 10.0, "x")?,
        y: percent(y, 25.0, "y")?,
        min_purchases: min_purchases.unwrap_or(3),
    };
    if t.a > t.b {
        return Err(ApiError::query("a", "must not exceed b"));
    }
    if t.x > t.y {
        return Err(ApiError::query("x", "must not exceed y"));
    }
    if t.min_purchases < 0 {
        return Err(ApiError::query("min_purchases", "must not be negative"));
    }
    Ok(t)
}

/// A cell of the ABC/XYZ matrix such as `AX`.
pub fn parse_cell(cell: Option<&str>) -> Result<Option<(Abc, Xyz)>, ApiError> {
    let Some(cell) = cell else { return Ok(None) };
    let mut chars = cell.chars();
    let abc = match chars.next() {
        Some('A') => Abc::A,
        Some('B') => Abc::B,
        Some('C') => Abc::C,
        _ => return Err(ApiError::query("cell", "must be one of AX, AY, AZ, BX, BY, BZ, CX, CY, CZ")),
    };
    let xyz = match (chars.next(), chars.next()) {
        (Some('X'), None) => Xyz::X,
        (Some('Y'), None) => Xyz::Y,
        (Some('Z'), None) => Xyz::Z,
        _ => return Err(ApiError::query("cell", "must be one of AX, AY, AZ, BX, BY, BZ, CX, CY, CZ")),
    };
    Ok(Some((abc, xyz)))
}

/// The ABCDE cutoffs: percentages (defaults 20 and 50), `max_share` ≤ `high_share`.
pub fn cutoffs(max_share: Option<f64>, high_share: Option<f64>) -> Result<Cutoffs, ApiError> {
    let cut = Cutoffs {
        max_share: percent(max_share, 20.0, "max_share")?,
        high_share: percent(high_share, 50.0, "high_share")?,
    };
    if cut.max_share > cut.high_share {
        return Err(ApiError::query("max_share", "must not exceed high_share"));
    }
    Ok(cut)
}

/// Points of the Lorenz curve: 1 to 1000, default 100.
pub fn pareto_points(points: Option<usize>) -> Result<usize, ApiError> {
    let points = points.unwrap_or(100);
    if !(1..=1000).contains(&points) {
        return Err(ApiError::query("points", "must be between 1 and 1000"));
    }
    Ok(points)
}

/// The scope from `from` to `to` over the clients of `filters` (a manager's own only).
fn scope_of(from: NaiveDate, to: NaiveDate, filters: ClientFilters, caller: &Caller) -> Result<ReportScope, ApiError> {
    let ClientFilters { channel, owner_id, region } = filters;
    ReportScope::new(Some(from), Some(to), channel, owner_id, region, caller.own_clients_only())
}

/// Computes the ABC/XYZ classes of the scope (shared with segments).
pub fn classify_abc_xyz(
    conn: &mut DbConn,
    scope: &ReportScope,
    measure: Measure,
    t: &Thresholds,
) -> Result<Vec<abc_xyz::Classified>, ApiError> {
    let sums = repo::client_sums(conn, scope, measure)?;
    Ok(abc_xyz::classify(sums, scope.months(), t))
}

/// The ABC/XYZ matrix of the scope and a page of its ranked clients (of `cell` when given).
pub fn abc_xyz(
    conn: &mut DbConn,
    scope: ReportScope,
    measure: Measure,
    t: Thresholds,
    cell: Option<(Abc, Xyz)>,
    page: &PageRequest,
) -> Result<AbcXyzReport, ApiError> {
    let classified = classify_abc_xyz(conn, &scope, measure, &t)?;
    let total: i64 = classified.iter().map(|c| c.sums.value.max(0)).sum();
    let matrix = abc_xyz::matrix(&classified);
    let clients = classified.len();
    // The cursor names the last client shown: the page continues after its rank.
    let page = page.page(classified, |c| c.sums.client_id, |c| cell.is_none_or(|(a, x)| c.abc == a && c.xyz == x));
    let names = repo::client_names(conn, &page.items.iter().map(|c| c.sums.client_id).collect::<Vec<_>>())?;
    let items = page
        .items
        .into_iter()
        .map(|c| {
            let label = names.get(&c.sums.client_id).cloned().unwrap_or_default();
            AbcXyzClient {
                client_id: c.sums.client_id,
                name: label.name,
                owner_id: label.owner_id,
                channel: label.channel,
                rank: c.rank,
                value: money::format_minor(c.sums.value),
                share: c.share,
                cumulative_share: c.cumulative_share,
                abc: c.abc,
                xyz: c.xyz,
                cv: c.cv,
                purchases: c.sums.purchases,
                months_with_sales: c.sums.months_with_sales,
                insufficient_history: c.insufficient_history,
            }
        })
        .collect();
    Ok(AbcXyzReport {
        months: scope.months(),
        scope,
        measure,
        thresholds: t,
        clients,
        total: money::format_minor(total),
        matrix,
        items,
        next_cursor: page.next_cursor,
    })
}

/// The ABCDE classes per channel and a page of the clients (of `class` when given), by channel,
/// class, profit (descending) and id.
pub fn abcde(
    conn: &mut DbConn,
    scope: ReportScope,
    cut: Cutoffs,
    class: Option<Abcde>,
    page: &PageRequest,
) -> Result<AbcdeReport, ApiError> {
    let mut candidates = repo::abcde_candidates(conn, &scope)?;
    let classes = abcde::classify(&candidates, &cut);
    candidates.sort_by(|a, b| {
        a.channel
            .cmp(&b.channel)
            .then(classes[&a.client_id].cmp(&classes[&b.client_id]))
            .then(b.profit.cmp(&a.profit))
            .then(a.client_id.cmp(&b.client_id))
    });
    let mut channels: BTreeMap<Option<String>, ChannelClasses> = BTreeMap::new();
    for c in &candidates {
        let entry = channels.entry(c.channel.clone()).or_insert_with(|| ChannelClasses {
            channel: c.channel.clone(),
            clients: BTreeMap::new(),
            profit: BTreeMap::new(),
        });
        let class = format!("{:?}", classes[&c.client_id]);
        *entry.clients.entry(class.clone()).or_default() += 1;
        let sum = entry.profit.entry(class).or_insert_with(|| "0.00".into());
        *sum = money::format_minor(money::parse_minor(sum).unwrap_or(0) + c.profit);
    }
    let page = page.page(candidates, |c| c.client_id, |c| class.is_none_or(|k| classes[&c.client_id] == k));
    let names = repo::client_names(conn, &page.items.iter().map(|c| c.client_id).collect::<Vec<_>>())?;
    let items = page
        .items
        .into_iter()
        .map(|c| AbcdeClient {
            client_id: c.client_id,
            name: names.get(&c.client_id).map(|n| n.name.clone()).unwrap_or_default(),
            owner_id: names.get(&c.client_id).and_then(|n| n.owner_id),
            channel: c.channel.clone(),
            class: classes[&c.client_id],
            profit: money::format_minor(c.profit),
            potential: money::format_minor(c.potential),
        })
        .collect();
    Ok(AbcdeReport {
        scope,
        cutoffs: cut,
        channels: channels.into_values().collect(),
        items,
        next_cursor: page.next_cursor,
    })
}

/// Pareto over the revenue of the scope, per channel as well when `by_channel`.
pub fn pareto(
    conn: &mut DbConn,
    scope: ReportScope,
    top_share: f64,
    points: usize,
    by_channel: bool,
) -> Result<ParetoReport, ApiError> {
    let sums = repo::client_sums(conn, &scope, Measure::Revenue)?;
    let values: Vec<i64> = sums.iter().map(|s| s.value).collect();
    let overall = pareto::compute(None, &values, top_share, points);
    let mut channels = Vec::new();
    if by_channel {
        let names = repo::client_names(conn, &sums.iter().map(|s| s.client_id).collect::<Vec<_>>())?;
        let mut groups: BTreeMap<Option<String>, Vec<i64>> = BTreeMap::new();
        for s in &sums {
            groups.entry(names.get(&s.client_id).and_then(|n| n.channel.clone())).or_default().push(s.value);
        }
        channels = groups.into_iter().map(|(ch, v)| pareto::compute(ch, &v, top_share, points)).collect();
    }
    Ok(ParetoReport { scope, top_share, overall, channels })
}

/// The funnel of a pipeline (default: the default pipeline), per group when `group_by`.
pub fn funnel(
    conn: &mut DbConn,
    scope: ReportScope,
    pipeline: Option<i64>,
    group_by: Option<GroupBy>,
) -> Result<FunnelReport, ApiError> {
    let pipeline_id = match pipeline {
        Some(id) => id,
        None => crate::pipelines::default_id(conn)?.ok_or(ApiError::NotFound)?,
    };
    let stages = crate::pipelines::stages_of(conn, pipeline_id)?;
    if stages.is_empty() {
        return Err(ApiError::query("pipeline_id", "no such pipeline"));
    }
    let counts = repo::funnel_counts(conn, &scope, pipeline_id, group_by)?;
    let groups = funnel::groups(counts, &stages);
    Ok(FunnelReport { scope, pipeline_id, group_by, groups })
}

/// What reactivation judges: the day (default today), the factor (default 1.5, in (0, 100])
/// and the clients, over the day before `as_of` up to it.
#[derive(Debug, Clone)]
pub struct Reactivation {
    pub scope: ReportScope,
    pub as_of: NaiveDate,
    pub factor: f64,
}

/// Checks the factor, then the scope.
pub fn reactivation_inputs(
    as_of: Option<NaiveDate>,
    factor: Option<f64>,
    filters: ClientFilters,
    caller: &Caller,
) -> Result<Reactivation, ApiError> {
    let as_of = as_of.unwrap_or_else(today);
    let factor = factor.unwrap_or(1.5);
    if !(factor > 0.0 && factor <= 100.0) {
        return Err(ApiError::query("factor", "must be greater than 0 and at most 100"));
    }
    let scope = scope_of(as_of - Duration::days(1), as_of, filters, caller)?;
    Ok(Reactivation { scope, as_of, factor })
}

fn due_clients(conn: &mut DbConn, r: &Reactivation) -> Result<(Vec<Candidate>, Option<f64>), ApiError> {
    let rhythms = repo::rhythms(conn, &r.scope, r.as_of)?;
    Ok(reactivation::candidates(rhythms, r.as_of, r.factor))
}

/// A page of the due clients, most revenue at risk first.
pub fn reactivation(conn: &mut DbConn, r: Reactivation, page: &PageRequest) -> Result<ReactivationReport, ApiError> {
    let (due, median) = due_clients(conn, &r)?;
    let clients = due.len();
    let page = page.page(due, |c| c.client_id, |_| true);
    Ok(ReactivationReport {
        as_of: r.as_of,
        factor: r.factor,
        median_interval_days: median,
        clients,
        items: page.items,
        next_cursor: page.next_cursor,
    })
}

/// A reactivation task for each due client's owner, unless one is open already.
pub fn create_reactivation_tasks(
    conn: &mut DbConn,
    r: Reactivation,
    origin: &Origin,
) -> Result<ReactivationTasks, ApiError> {
    let (due, _) = due_clients(conn, &r)?;
    let planned: Vec<Planned> = due
        .iter()
        .filter_map(|c| {
            c.owner_id.map(|owner| Planned {
                client_id: c.client_id,
                assignee_id: owner,
                title: format!("Reactivate {}: no purchase for {} days", c.name, c.days_since_last_purchase),
                description: Some(format!(
                    "Usual interval {:.0} days; revenue at risk {} a year.",
                    c.interval_days, c.revenue_at_risk
                )),
            })
        })
        .collect();
    let without_owner = due.len() - planned.len();
    let (task_ids, already_open) = tasks::create_unless_open(conn, TaskType::Reactivation, planned, origin)?;
    Ok(ReactivationTasks {
        as_of: r.as_of,
        factor: r.factor,
        clients: due.len(),
        created: task_ids.len(),
        already_open,
        without_owner,
        task_ids,
    })
}

/// The lost clients' scope: their whole history up to `to` (default today) unless `from` is
/// given; the flag tells which.
pub fn lost_scope(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    filters: ClientFilters,
    caller: &Caller,
) -> Result<(ReportScope, bool), ApiError> {
    let to = to.unwrap_or_else(today);
    Ok((scope_of(from.unwrap_or(to), to, filters, caller)?, from.is_none()))
}

/// A page of the lost clients, the most valuable by `sort` first.
pub fn lost_clients(
    conn: &mut DbConn,
    scope: ReportScope,
    whole_history: bool,
    sort: LostSort,
    cursor: Option<&str>,
    limit: i64,
) -> Result<LostReport, ApiError> {
    let (items, next_cursor) = repo::lost_clients(conn, &scope, whole_history, sort, cursor, limit)?;
    Ok(LostReport { scope, whole_history, items, next_cursor })
}

/// The census's scope: every client unless a period is given, then the clients created in it
/// (`from` defaults to 1970-01-01, `to` to today); the flag tells which.
pub fn completeness_scope(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    filters: ClientFilters,
    caller: &Caller,
) -> Result<(ReportScope, bool), ApiError> {
    let created_in_period = from.is_some() || to.is_some();
    let to = to.unwrap_or_else(today);
    let from = from.unwrap_or(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default());
    Ok((scope_of(from, to, filters, caller)?, created_in_period))
}

/// The census overall and per owner, and a page of the worst cards.
pub fn completeness(
    conn: &mut DbConn,
    scope: ReportScope,
    created_in_period: bool,
    cursor: Option<&str>,
    limit: i64,
) -> Result<CompletenessReport, ApiError> {
    let mut all = census::figures(&repo::census_counts(conn, &scope, created_in_period)?);
    let overall = all.remove(0);
    let (worst, next_cursor) = repo::worst_clients(conn, &scope, created_in_period, cursor, limit)?;
    Ok(CompletenessReport { created_in_period, scope, overall, by_owner: all, worst, next_cursor })
}

/// The summary of the scope.
pub fn summary(conn: &mut DbConn, scope: &ReportScope) -> Result<Summary, ApiError> {
    Ok(summary::summary(scope, repo::summary_figures(conn, scope)?))
}
