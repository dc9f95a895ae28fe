//! The summary of the base: clients by status now, how they moved between statuses during the
//! period, new clients, revenue and margin, and contacts per client per year by status
//! (calls, meetings, emails and messages; notes are not contacts).

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde::Serialize;
use utoipa::ToSchema;

use super::ReportScope;
use crate::db::sql::Sql;
use crate::db::DbConn;
use crate::money;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Movement {
    pub from: Option<String>,
    pub to: String,
    pub clients: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cadence {
    pub status: String,
    /// Clients with this status now.
    pub clients: i64,
    /// Contacts with them during the period.
    pub contacts: i64,
    /// Contacts per client per year: contacts / clients / (days of the period / 365).
    pub contacts_per_client_per_year: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Summary {
    pub scope: ReportScope,
    /// Clients by current status.
    pub statuses: BTreeMap<String, i64>,
    /// Status changes that happened during the period.
    pub movement: Vec<Movement>,
    /// Clients created during the period.
    pub new_clients: i64,
    /// Revenue of the period, a decimal amount.
    pub revenue: String,
    /// Margin of the period, a decimal amount.
    pub margin: String,
    pub purchases: i64,
    pub cadence: Vec<Cadence>,
}

#[derive(QueryableByName)]
struct KeyCount {
    #[diesel(sql_type = Nullable<Text>)]
    a: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    b: Option<String>,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = BigInt)]
    revenue: i64,
    #[diesel(sql_type = BigInt)]
    margin: i64,
    #[diesel(sql_type = BigInt)]
    purchases: i64,
}

fn period_bounds(scope: &ReportScope) -> (chrono::NaiveDateTime, chrono::NaiveDateTime) {
    let from = scope.from.and_hms_opt(0, 0, 0).unwrap_or_default();
    let until = (scope.to + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default();
    (from, until)
}

pub fn compute(conn: &mut DbConn, scope: &ReportScope) -> QueryResult<Summary> {
    let (from, until) = period_bounds(scope);

    let mut sql = Sql::new("SELECT c.status AS a, NULL AS b, COUNT(*) AS n FROM clients c WHERE 1 = 1");
    scope.push_client_filter(&mut sql);
    sql.push(" GROUP BY c.status");
    let statuses: BTreeMap<String, i64> =
        sql.query().load::<KeyCount>(conn)?.into_iter().filter_map(|r| r.a.map(|a| (a, r.n))).collect();

    let mut sql = Sql::new(
        "SELECT h.from_status AS a, h.to_status AS b, COUNT(DISTINCT h.client_id) AS n FROM client_status_history h \
         JOIN clients c ON c.id = h.client_id WHERE h.changed_at >= ",
    );
    sql.timestamp(from).push(" AND h.changed_at < ").timestamp(until);
    scope.push_client_filter(&mut sql);
    sql.push(" GROUP BY h.from_status, h.to_status ORDER BY h.from_status, h.to_status");
    let movement = sql
        .query()
        .load::<KeyCount>(conn)?
        .into_iter()
        .map(|r| Movement { from: r.a, to: r.b.unwrap_or_default(), clients: r.n })
        .collect();

    let mut sql = Sql::new("SELECT NULL AS a, NULL AS b, COUNT(*) AS n FROM clients c WHERE c.created_at >= ");
    sql.timestamp(from).push(" AND c.created_at < ").timestamp(until);
    scope.push_client_filter(&mut sql);
    let new_clients = sql.query().load::<KeyCount>(conn)?.first().map_or(0, |r| r.n);

    let mut sql = Sql::new(
        "SELECT CAST(COALESCE(SUM(s.amount), 0) AS BIGINT) AS revenue, \
         CAST(COALESCE(SUM(s.margin), 0) AS BIGINT) AS margin, COUNT(s.id) AS purchases \
         FROM sales s JOIN clients c ON c.id = s.client_id WHERE 1 = 1",
    );
    scope.push_client_filter(&mut sql);
    scope.push_period(&mut sql);
    let totals = sql.query().load::<Totals>(conn)?.pop().unwrap_or(Totals { revenue: 0, margin: 0, purchases: 0 });

    let mut sql = Sql::new(
        "SELECT c.status AS a, NULL AS b, COUNT(*) AS n FROM activities a JOIN clients c ON c.id = a.client_id \
         WHERE a.deleted_at IS NULL AND a.activity_type IN ('call', 'meeting', 'email', 'message') AND a.occurred_at >= ",
    );
    sql.timestamp(from).push(" AND a.occurred_at < ").timestamp(until);
    scope.push_client_filter(&mut sql);
    sql.push(" GROUP BY c.status");
    let contacts: BTreeMap<String, i64> =
        sql.query().load::<KeyCount>(conn)?.into_iter().filter_map(|r| r.a.map(|a| (a, r.n))).collect();
    let years = ((scope.to - scope.from).num_days() + 1) as f64 / 365.0;
    let cadence = ["active", "potential", "lost"]
        .iter()
        .map(|status| {
            let clients = statuses.get(*status).copied().unwrap_or(0);
            let n = contacts.get(*status).copied().unwrap_or(0);
            Cadence {
                status: status.to_string(),
                clients,
                contacts: n,
                contacts_per_client_per_year: if clients == 0 { 0.0 } else { n as f64 / clients as f64 / years },
            }
        })
        .collect();

    Ok(Summary {
        scope: scope.clone(),
        statuses,
        movement,
        new_clients,
        revenue: money::format_minor(totals.revenue),
        margin: money::format_minor(totals.margin),
        purchases: totals.purchases,
        cadence,
    })
}
