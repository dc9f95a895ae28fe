//! The analytics endpoints (`analytics:read`). Every report takes a period and the `channel`,
//! `owner_id` and `region` filters; managers always get their own clients only. Parameters are
//! echoed in the responses.

use std::collections::BTreeMap;

use actix_web::{get, post, web, HttpResponse};
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::abc_xyz::{self, Abc, Cell, Thresholds, Xyz};
use super::abcde::{self, Abcde, Candidate as AbcdeCandidate, Cutoffs};
use super::census::{self, Census, Incomplete};
use super::funnel::{self, FunnelGroup, GroupBy};
use super::lost::{self, LostClient, LostSort};
use super::pareto::{self, ParetoResult};
use super::reactivation::{self, Candidate};
use super::summary::{self, Summary};
use super::{client_names, client_sums, percent, Measure, ReportScope};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db::{self, DbConn};
use crate::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::money;
use crate::pagination::{self, Cursor, KeyValue};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(abc_xyz_report)
        .service(abcde_report)
        .service(pareto_report)
        .service(funnel_report)
        .service(reactivation_report)
        .service(create_reactivation_tasks)
        .service(lost_clients_report)
        .service(completeness_report)
        .service(summary_report);
}

/// Declares a query struct with the parameters every report shares, plus its own.
macro_rules! report_query {
    ($name:ident { $($(#[$m:meta])* $field:ident : $ty:ty,)* }) => {
        #[derive(Debug, Deserialize, IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            /// First day of the period (default: 364 days before `to`).
            pub from: Option<NaiveDate>,
            /// Last day of the period, included (default: today).
            pub to: Option<NaiveDate>,
            /// Only clients of this channel.
            pub channel: Option<String>,
            /// Only clients of this owner (managers always get their own).
            pub owner_id: Option<i64>,
            /// Only clients of this region.
            pub region: Option<String>,
            $($(#[$m])* pub $field: $ty,)*
        }

        impl $name {
            fn scope(&self, auth: &Caller) -> Result<ReportScope, ApiError> {
                ReportScope::new(self.from, self.to, self.channel.clone(), self.owner_id, self.region.clone(), auth.own_clients_only())
            }
        }
    };
}

report_query!(AbcXyzQuery {
    /// `revenue` (default) or `margin`.
    #[param(inline)]
    measure: Option<Measure>,
    /// Cumulative share up to which clients are A, in percent (default 80).
    a: Option<f64>,
    /// Cumulative share up to which clients are B (default 95).
    b: Option<f64>,
    /// Coefficient of variation up to which clients are X, in percent (default 10).
    x: Option<f64>,
    /// Coefficient of variation up to which clients are Y (default 25).
    y: Option<f64>,
    /// Fewer purchases in the period flag a client `insufficient_history` (default 3).
    min_purchases: Option<i64>,
    /// Only clients of this cell, e.g. `AX`.
    cell: Option<String>,
    /// Page size of `items`, 1 to 200 (default 50).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
});

#[derive(Debug, Serialize, ToSchema)]
pub struct AbcXyzClient {
    pub client_id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    pub channel: Option<String>,
    pub rank: usize,
    /// The measure over the period, a decimal amount.
    pub value: String,
    pub share: f64,
    pub cumulative_share: f64,
    pub abc: Abc,
    pub xyz: Xyz,
    /// Coefficient of variation of the monthly sums (null when the value is not positive).
    pub cv: Option<f64>,
    pub purchases: i64,
    pub months_with_sales: i64,
    pub insufficient_history: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AbcXyzReport {
    pub scope: ReportScope,
    pub measure: Measure,
    pub thresholds: Thresholds,
    /// Calendar months of the period (the n of the coefficient of variation).
    pub months: i64,
    /// Clients with sales in the period.
    pub clients: usize,
    /// Sum of the positive values, a decimal amount.
    pub total: String,
    pub matrix: Vec<Cell>,
    /// Ranked clients (of `cell` when given).
    pub items: Vec<AbcXyzClient>,
    pub next_cursor: Option<String>,
}

fn parse_cell(cell: Option<&str>) -> Result<Option<(Abc, Xyz)>, ApiError> {
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

/// Computes the ABC/XYZ classes of the scope (shared with segments).
pub fn classify_abc_xyz(
    conn: &mut DbConn,
    scope: &ReportScope,
    measure: Measure,
    t: &Thresholds,
) -> Result<Vec<abc_xyz::Classified>, ApiError> {
    let sums = client_sums(conn, scope, measure)?;
    Ok(abc_xyz::classify(sums, scope.months(), t))
}

pub fn thresholds(q: &AbcXyzQuery) -> Result<Thresholds, ApiError> {
    let t = Thresholds {
        a: percent(q.a, 80.0, "a")?,
        b: percent(q.b, 95.0, "b")?,
        x: percent(q.x, 10.0, "x")?,
        y: percent(q.y, 25.0, "y")?,
        min_purchases: q.min_purchases.unwrap_or(3),
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

#[utoipa::path(
    tag = "analytics",
    operation_id = "abc_xyz",
    params(AbcXyzQuery),
    responses((status = 200, description = "The ABC/XYZ matrix and the ranked clients", body = AbcXyzReport)),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/analytics/abc-xyz")]
async fn abc_xyz_report(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<AbcXyzQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let scope = q.scope(&auth)?;
    let t = thresholds(&q)?;
    let measure = q.measure.unwrap_or(Measure::Revenue);
    let cell = parse_cell(q.cell.as_deref())?;
    let limit = pagination::limit(q.limit)?;
    let tag = format!("abc:{measure:?}");
    let after = q.cursor.as_deref().map(|c| Cursor::decode(c, &tag)).transpose()?.map(|c| c.id);
    let report = db::run(&state.pool, move |conn| {
        let classified = classify_abc_xyz(conn, &scope, measure, &t)?;
        let total: i64 = classified.iter().map(|c| c.sums.value.max(0)).sum();
        let matrix = abc_xyz::matrix(&classified);
        let clients = classified.len();
        // The cursor names the last client shown: the page continues after its rank.
        let start = match after {
            Some(id) => classified.iter().position(|c| c.sums.client_id == id).map_or(clients, |p| p + 1),
            None => 0,
        };
        let mut page: Vec<&abc_xyz::Classified> = classified[start..]
            .iter()
            .filter(|c| cell.is_none_or(|(a, x)| c.abc == a && c.xyz == x))
            .take(limit as usize + 1)
            .collect();
        let next_cursor = if page.len() as i64 > limit {
            page.truncate(limit as usize);
            page.last().map(|c| Cursor { sort: tag.clone(), key: KeyValue::Null, id: c.sums.client_id }.encode())
        } else {
            None
        };
        let names = client_names(conn, &page.iter().map(|c| c.sums.client_id).collect::<Vec<_>>())?;
        let items = page
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
            next_cursor,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

report_query!(AbcdeQuery {
    /// Top share of a channel's ranking counted as maximal, in percent (default 20).
    max_share: Option<f64>,
    /// Top share counted as high (default 50).
    high_share: Option<f64>,
    /// Only clients of this class.
    #[param(inline)]
    class: Option<Abcde>,
    /// Page size of `items`, 1 to 200 (default 50).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
});

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelClasses {
    /// Null for clients without a channel.
    pub channel: Option<String>,
    /// Clients per class (`A`…`E`).
    pub clients: BTreeMap<String, usize>,
    /// Margin per class, decimal amounts.
    pub profit: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AbcdeClient {
    pub client_id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    pub channel: Option<String>,
    pub class: Abcde,
    /// Margin over the period, a decimal amount.
    pub profit: String,
    /// Estimated potential, a decimal amount.
    pub potential: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AbcdeReport {
    pub scope: ReportScope,
    pub cutoffs: Cutoffs,
    pub channels: Vec<ChannelClasses>,
    /// Clients by channel, class, profit (descending) and id.
    pub items: Vec<AbcdeClient>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "abcde",
    params(AbcdeQuery),
    responses((status = 200, description = "ABCDE classes of the active clients within each channel", body = AbcdeReport)),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/analytics/abcde")]
async fn abcde_report(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<AbcdeQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let scope = q.scope(&auth)?;
    let cut = Cutoffs {
        max_share: percent(q.max_share, 20.0, "max_share")?,
        high_share: percent(q.high_share, 50.0, "high_share")?,
    };
    if cut.max_share > cut.high_share {
        return Err(ApiError::query("max_share", "must not exceed high_share"));
    }
    let limit = pagination::limit(q.limit)?;
    let after = q.cursor.as_deref().map(|c| Cursor::decode(c, "abcde")).transpose()?.map(|c| c.id);
    let class_filter = q.class;
    let report = db::run(&state.pool, move |conn| {
        let mut candidates = super::repo::abcde_candidates(conn, &scope)?;
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
        let start = match after {
            Some(id) => candidates.iter().position(|c| c.client_id == id).map_or(candidates.len(), |p| p + 1),
            None => 0,
        };
        let mut page: Vec<&AbcdeCandidate> = candidates[start..]
            .iter()
            .filter(|c| class_filter.is_none_or(|k| classes[&c.client_id] == k))
            .take(limit as usize + 1)
            .collect();
        let next_cursor = if page.len() as i64 > limit {
            page.truncate(limit as usize);
            page.last().map(|c| Cursor { sort: "abcde".into(), key: KeyValue::Null, id: c.client_id }.encode())
        } else {
            None
        };
        let names = client_names(conn, &page.iter().map(|c| c.client_id).collect::<Vec<_>>())?;
        let items = page
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
        Ok(AbcdeReport { scope, cutoffs: cut, channels: channels.into_values().collect(), items, next_cursor })
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

report_query!(ParetoQuery {
    /// The top share of clients, in percent (default 20).
    top_share: Option<f64>,
    /// Points of the Lorenz curve after 0 (default 100, at most 1000).
    points: Option<usize>,
    /// `channel` for one result per channel as well.
    #[param(inline)]
    by: Option<ParetoBy>,
});

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParetoBy {
    Channel,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParetoReport {
    pub scope: ReportScope,
    pub top_share: f64,
    pub overall: ParetoResult,
    /// Per channel, when `by=channel`.
    pub channels: Vec<ParetoResult>,
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "pareto",
    params(ParetoQuery),
    responses((status = 200, description = "Revenue share of the top clients and the Lorenz curve", body = ParetoReport)),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/analytics/pareto")]
async fn pareto_report(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<ParetoQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let scope = q.scope(&auth)?;
    let top_share = percent(q.top_share, 20.0, "top_share")?;
    let points = q.points.unwrap_or(100);
    if !(1..=1000).contains(&points) {
        return Err(ApiError::query("points", "must be between 1 and 1000"));
    }
    let by_channel = q.by.is_some();
    let report = db::run(&state.pool, move |conn| {
        let sums = client_sums(conn, &scope, Measure::Revenue)?;
        let values: Vec<i64> = sums.iter().map(|s| s.value).collect();
        let overall = pareto::compute(None, &values, top_share, points);
        let mut channels = Vec::new();
        if by_channel {
            let names = client_names(conn, &sums.iter().map(|s| s.client_id).collect::<Vec<_>>())?;
            let mut groups: BTreeMap<Option<String>, Vec<i64>> = BTreeMap::new();
            for s in &sums {
                groups.entry(names.get(&s.client_id).and_then(|n| n.channel.clone())).or_default().push(s.value);
            }
            channels = groups.into_iter().map(|(ch, v)| pareto::compute(ch, &v, top_share, points)).collect();
        }
        Ok(ParetoReport { scope, top_share, overall, channels })
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

report_query!(FunnelQuery {
    /// The pipeline (default: the default pipeline).
    pipeline_id: Option<i64>,
    /// `owner` or `channel` (at the time of each move); default: one group.
    #[param(inline)]
    group_by: Option<GroupBy>,
});

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelReport {
    pub scope: ReportScope,
    pub pipeline_id: i64,
    pub group_by: Option<GroupBy>,
    pub groups: Vec<FunnelGroup>,
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "funnel",
    params(FunnelQuery),
    responses((status = 200, description = "Deals entering each stage, conversion and time in stage", body = FunnelReport)),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/analytics/funnel")]
async fn funnel_report(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<FunnelQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let scope = q.scope(&auth)?;
    let (pipeline, group_by) = (q.pipeline_id, q.group_by);
    let report = db::run(&state.pool, move |conn| {
        let pipeline_id = match pipeline {
            Some(id) => id,
            None => crate::pipelines::default_id(conn)?.ok_or(ApiError::NotFound)?,
        };
        let stages = crate::pipelines::stages_of(conn, pipeline_id)?;
        if stages.is_empty() {
            return Err(ApiError::query("pipeline_id", "no such pipeline"));
        }
        let groups = funnel::compute(conn, &scope, pipeline_id, &stages, group_by)?;
        Ok(FunnelReport { scope, pipeline_id, group_by, groups })
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReactivationQuery {
    /// The day to judge from (default today); purchases after it are ignored.
    pub as_of: Option<NaiveDate>,
    /// How many of its own intervals a client may stay silent (default 1.5).
    pub factor: Option<f64>,
    pub channel: Option<String>,
    pub owner_id: Option<i64>,
    pub region: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReactivationReport {
    pub as_of: NaiveDate,
    pub factor: f64,
    /// The base's median interval, used for clients with a single purchase day.
    pub median_interval_days: Option<f64>,
    /// All due clients.
    pub clients: usize,
    pub items: Vec<Candidate>,
    pub next_cursor: Option<String>,
}

fn reactivation_inputs(q: &ReactivationQuery, auth: &Caller) -> Result<(ReportScope, NaiveDate, f64), ApiError> {
    let as_of = q.as_of.unwrap_or_else(super::today);
    let factor = q.factor.unwrap_or(1.5);
    if !(factor > 0.0 && factor <= 100.0) {
        return Err(ApiError::query("factor", "must be greater than 0 and at most 100"));
    }
    let scope = ReportScope::new(
        Some(as_of - Duration::days(1)),
        Some(as_of),
        q.channel.clone(),
        q.owner_id,
        q.region.clone(),
        auth.own_clients_only(),
    )?;
    Ok((scope, as_of, factor))
}

fn due_clients(
    conn: &mut DbConn,
    scope: &ReportScope,
    as_of: NaiveDate,
    factor: f64,
) -> Result<(Vec<Candidate>, Option<f64>), ApiError> {
    let rhythms = reactivation::rhythms(conn, scope, as_of)?;
    Ok(reactivation::candidates(rhythms, as_of, factor))
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "reactivation",
    params(ReactivationQuery),
    responses((status = 200, description = "Active clients silent for longer than their rhythm, most revenue at risk first", body = ReactivationReport)),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/analytics/reactivation")]
async fn reactivation_report(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<ReactivationQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let (scope, as_of, factor) = reactivation_inputs(&q, &auth)?;
    let limit = pagination::limit(q.limit)?;
    let after = q.cursor.as_deref().map(|c| Cursor::decode(c, "reactivation")).transpose()?.map(|c| c.id);
    let report = db::run(&state.pool, move |conn| {
        let (due, median) = due_clients(conn, &scope, as_of, factor)?;
        let clients = due.len();
        let start = match after {
            Some(id) => due.iter().position(|c| c.client_id == id).map_or(clients, |p| p + 1),
            None => 0,
        };
        let mut items: Vec<Candidate> = due.into_iter().skip(start).take(limit as usize + 1).collect();
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|c| Cursor { sort: "reactivation".into(), key: KeyValue::Null, id: c.client_id }.encode())
        } else {
            None
        };
        Ok(ReactivationReport { as_of, factor, median_interval_days: median, clients, items, next_cursor })
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReactivationTasks {
    pub as_of: NaiveDate,
    pub factor: f64,
    /// Due clients considered.
    pub clients: usize,
    /// Tasks created now.
    pub created: usize,
    /// Clients that already had an open reactivation task.
    pub already_open: usize,
    /// Clients without an owner to give the task to.
    pub without_owner: usize,
    pub task_ids: Vec<i64>,
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "create_reactivation_tasks",
    params(ReactivationQuery),
    responses((status = 200, description = "A reactivation task for each due client's owner, unless one is open already", body = ReactivationTasks)),
    security(("oauth2" = ["analytics:read", "deals:write"]))
)]
#[post("/analytics/reactivation")]
async fn create_reactivation_tasks(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<ReactivationQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    auth.require(Scope::DealsWrite)?;
    let (scope, as_of, factor) = reactivation_inputs(&q, &auth)?;
    let origin = auth.origin();
    let result = db::run_tx(&state.pool, move |conn| {
        let (due, _) = due_clients(conn, &scope, as_of, factor)?;
        let planned: Vec<crate::tasks::Planned> = due
            .iter()
            .filter_map(|c| {
                c.owner_id.map(|owner| crate::tasks::Planned {
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
        let (task_ids, already_open) =
            crate::tasks::create_unless_open(conn, crate::tasks::TaskType::Reactivation, planned, &origin)?;
        Ok(ReactivationTasks {
            as_of,
            factor,
            clients: due.len(),
            created: task_ids.len(),
            already_open,
            without_owner,
            task_ids,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(result))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LostQuery {
    /// First day counted (default: the whole history).
    pub from: Option<NaiveDate>,
    /// Last day counted (default: today).
    pub to: Option<NaiveDate>,
    pub channel: Option<String>,
    pub owner_id: Option<i64>,
    pub region: Option<String>,
    /// `margin` (default), `revenue` or `potential`.
    #[param(inline)]
    pub sort: Option<LostSort>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LostReport {
    pub scope: ReportScope,
    pub whole_history: bool,
    pub items: Vec<LostClient>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "lost_clients",
    params(LostQuery),
    responses((status = 200, description = "Lost clients, the most valuable first, with reason and last contact", body = LostReport)),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/analytics/lost-clients")]
async fn lost_clients_report(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<LostQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let whole_history = q.from.is_none();
    let to = q.to.unwrap_or_else(super::today);
    let from = q.from.unwrap_or(to);
    let scope = ReportScope::new(
        Some(from),
        Some(to),
        q.channel.clone(),
        q.owner_id,
        q.region.clone(),
        auth.own_clients_only(),
    )?;
    let limit = pagination::limit(q.limit)?;
    let sort = q.sort.unwrap_or(LostSort::Margin);
    let report = db::run(&state.pool, move |conn| {
        let (items, next_cursor) = lost::page(conn, &scope, whole_history, sort, q.cursor.as_deref(), limit)?;
        Ok(LostReport { scope, whole_history, items, next_cursor })
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompletenessQuery {
    /// Only clients created on or after this day.
    pub from: Option<NaiveDate>,
    /// Only clients created on or before this day.
    pub to: Option<NaiveDate>,
    pub channel: Option<String>,
    pub owner_id: Option<i64>,
    pub region: Option<String>,
    /// Page size of `worst`, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page of `worst`.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompletenessReport {
    /// Whether the census is limited to clients created in the period.
    pub created_in_period: bool,
    pub scope: ReportScope,
    pub overall: Census,
    pub by_owner: Vec<Census>,
    /// The clients missing the most, worst first.
    pub worst: Vec<Incomplete>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    tag = "analytics",
    operation_id = "completeness",
    params(CompletenessQuery),
    responses((status = 200, description = "What the base lacks, overall and per owner, and the worst cards", body = CompletenessReport)),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/analytics/completeness")]
async fn completeness_report(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<CompletenessQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let created_in_period = q.from.is_some() || q.to.is_some();
    let to = q.to.unwrap_or_else(super::today);
    let from = q.from.unwrap_or(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default());
    let scope = ReportScope::new(
        Some(from),
        Some(to),
        q.channel.clone(),
        q.owner_id,
        q.region.clone(),
        auth.own_clients_only(),
    )?;
    let limit = pagination::limit(q.limit)?;
    let report = db::run(&state.pool, move |conn| {
        let mut all = census::census(conn, &scope, created_in_period)?;
        let overall = all.remove(0);
        let (worst, next_cursor) = census::worst(conn, &scope, created_in_period, q.cursor.as_deref(), limit)?;
        Ok(CompletenessReport { created_in_period, scope, overall, by_owner: all, worst, next_cursor })
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

report_query!(SummaryQuery {});

#[utoipa::path(
    tag = "analytics",
    operation_id = "summary",
    params(SummaryQuery),
    responses((status = 200, description = "Statuses, movement, new clients, revenue and contact cadence", body = Summary)),
    security(("oauth2" = ["analytics:read"]))
)]
#[get("/analytics/summary")]
async fn summary_report(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::AnalyticsRead)?;
    let scope = q.scope(&auth)?;
    let report = db::run(&state.pool, move |conn| Ok(summary::compute(conn, &scope)?)).await?;
    Ok(HttpResponse::Ok().json(report))
}
