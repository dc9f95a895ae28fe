//! The analytics endpoints (`analytics:read`). Every report takes a period and the `channel`,
//! `owner_id` and `region` filters; managers always get their own clients only. Parameters are
//! echoed in the responses.

use actix_web::{get, post, web, HttpResponse};

use super::lost::LostSort;
use super::model::{
    AbcXyzReport, AbcdeReport, CompletenessReport, FunnelReport, LostReport, Measure, ParetoReport, ReactivationReport,
    ReactivationTasks,
};
use super::params::{
    AbcXyzQuery, AbcdeQuery, CompletenessQuery, FunnelQuery, LostQuery, ParetoQuery, ReactivationQuery, SummaryQuery,
};
use super::service::{self, PageRequest};
use super::summary::Summary;
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::memo;
use crate::pagination;
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
    let t = service::thresholds(q.a, q.b, q.x, q.y, q.min_purchases)?;
    let measure = q.measure.unwrap_or(Measure::Revenue);
    let cell = service::parse_cell(q.cell.as_deref())?;
    let page = PageRequest::new(q.limit, q.cursor.as_deref(), service::abc_xyz_sort(measure))?;
    let key = memo::key("abc-xyz", &(&scope, measure, t, cell, &page));
    memo::answer(&state.pool, &state.memo, key, move |conn| service::abc_xyz(conn, scope, measure, t, cell, &page))
        .await
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
    let cut = service::cutoffs(q.max_share, q.high_share)?;
    let page = PageRequest::new(q.limit, q.cursor.as_deref(), service::ABCDE_SORT.into())?;
    let class = q.class;
    let key = memo::key("abcde", &(&scope, cut, class, &page));
    memo::answer(&state.pool, &state.memo, key, move |conn| service::abcde(conn, scope, cut, class, &page)).await
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
    let top_share = service::percent(q.top_share, 20.0, "top_share")?;
    let points = service::pareto_points(q.points)?;
    let by_channel = q.by.is_some();
    let key = memo::key("pareto", &(&scope, top_share, points, by_channel));
    memo::answer(&state.pool, &state.memo, key, move |conn| service::pareto(conn, scope, top_share, points, by_channel))
        .await
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
    let report = db::run(&state.pool, move |conn| service::funnel(conn, scope, pipeline, group_by)).await?;
    Ok(HttpResponse::Ok().json(report))
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
    let inputs = q.inputs(&auth)?;
    let page = PageRequest::new(q.limit, q.cursor.as_deref(), service::REACTIVATION_SORT.into())?;
    let report = db::run(&state.pool, move |conn| service::reactivation(conn, inputs, &page)).await?;
    Ok(HttpResponse::Ok().json(report))
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
    let inputs = q.inputs(&auth)?;
    let origin = auth.origin();
    let result = db::run_tx(&state.pool, move |conn| service::create_reactivation_tasks(conn, inputs, &origin)).await?;
    Ok(HttpResponse::Ok().json(result))
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
    let (scope, whole_history) = q.scope(&auth)?;
    let limit = pagination::limit(q.limit)?;
    let sort = q.sort.unwrap_or(LostSort::Margin);
    let report = db::run(&state.pool, move |conn| {
        service::lost_clients(conn, scope, whole_history, sort, q.cursor.as_deref(), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
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
    let (scope, created_in_period) = q.scope(&auth)?;
    let limit = pagination::limit(q.limit)?;
    let report = db::run(&state.pool, move |conn| {
        service::completeness(conn, scope, created_in_period, q.cursor.as_deref(), limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

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
    let key = memo::key("summary", &scope);
    memo::answer(&state.pool, &state.memo, key, move |conn| service::summary(conn, &scope)).await
}
