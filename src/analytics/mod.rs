//! Segmentation and analytics computed from live data: ABC/XYZ, ABCDE, Pareto, the funnel,
//! reactivation, lost clients, the census and the summary. Aggregation happens in the database;
//! what comes back is at most one row per client, classified in one pass.

pub mod abc_xyz;
pub mod abcde;
pub mod api;
pub mod census;
pub mod funnel;
pub mod lost;
pub mod pareto;
pub mod reactivation;
pub mod repo;
pub mod summary;

use chrono::{Datelike, Duration, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::sql::Sql;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::sales::month_index;

/// Which clients and which days an analysis covers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportScope {
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period (included).
    pub to: NaiveDate,
    pub channel: Option<String>,
    pub owner_id: Option<i64>,
    pub region: Option<String>,
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

impl ReportScope {
    /// `to` defaults to today and `from` to a year before it; a manager is always limited to
    /// the clients they own.
    pub fn new(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        channel: Option<String>,
        owner_id: Option<i64>,
        region: Option<String>,
        own_clients_only: Option<i64>,
    ) -> Result<ReportScope, ApiError> {
        let to = to.unwrap_or_else(today);
        let from = from.unwrap_or_else(|| to - Duration::days(364));
        if from > to {
            return Err(ApiError::query("from", "must not be after `to`"));
        }
        let owner_id = match (own_clients_only, owner_id) {
            (Some(me), Some(other)) if other != me => {
                return Err(ApiError::query("owner_id", "managers see their own clients only"))
            }
            (Some(me), _) => Some(me),
            (None, o) => o,
        };
        Ok(ReportScope { from, to, channel, owner_id, region })
    }

    /// Calendar months the period touches, partial ones included.
    pub fn months(&self) -> i64 {
        (month_index(self.to) - month_index(self.from) + 1) as i64
    }

    /// Appends ` AND …` conditions on the client alias `c` (live clients of the scope).
    pub fn push_client_filter(&self, sql: &mut Sql) {
        sql.push(" AND c.deleted_at IS NULL");
        if let Some(channel) = &self.channel {
            sql.push(" AND c.channel = ").text(channel);
        }
        if let Some(owner) = self.owner_id {
            sql.push(" AND c.owner_id = ").int(owner);
        }
        if let Some(region) = &self.region {
            sql.push(" AND c.region = ").text(region);
        }
    }

    /// Appends the period condition on the sales alias `s`.
    pub fn push_period(&self, sql: &mut Sql) {
        sql.push(" AND s.sold_on >= ").date(self.from).push(" AND s.sold_on <= ").date(self.to);
    }
}

/// What the value of a client is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Revenue,
    Margin,
}

impl Measure {
    fn column(self) -> &'static str {
        match self {
            Measure::Revenue => "s.amount",
            Measure::Margin => "COALESCE(s.margin, 0)",
        }
    }
}

/// One client's sums over the period, from its monthly sums.
#[derive(Debug, Clone, Default)]
pub struct ClientSums {
    pub client_id: i64,
    /// Σ of the measure over the period.
    pub value: i64,
    /// Σ of squared monthly sums (months without sales add nothing).
    pub sum_of_squares: i128,
    pub months_with_sales: i64,
    pub purchases: i64,
}

#[derive(QueryableByName)]
struct MonthRow {
    #[diesel(sql_type = BigInt)]
    client_id: i64,
    #[diesel(sql_type = BigInt)]
    total: i64,
    #[diesel(sql_type = BigInt)]
    purchases: i64,
}

/// Per-client sums of the measure over the scope: the database sums each client's months, the
/// squares are added here in 128 bits so that nothing overflows or rounds.
pub fn client_sums(conn: &mut DbConn, scope: &ReportScope, measure: Measure) -> QueryResult<Vec<ClientSums>> {
    let mut sql = Sql::new(&format!(
        "SELECT s.client_id AS client_id, CAST(SUM({}) AS BIGINT) AS total, \
         COUNT(*) AS purchases FROM sales s JOIN clients c ON c.id = s.client_id WHERE 1 = 1",
        measure.column()
    ));
    scope.push_client_filter(&mut sql);
    scope.push_period(&mut sql);
    sql.push(" GROUP BY s.client_id, s.sold_month ORDER BY s.client_id");
    let rows: Vec<MonthRow> = sql.query().load(conn)?;
    let mut out: Vec<ClientSums> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|c| c.client_id != r.client_id) {
            out.push(ClientSums { client_id: r.client_id, ..Default::default() });
        }
        if let Some(c) = out.last_mut() {
            c.value += r.total;
            c.sum_of_squares += (r.total as i128) * (r.total as i128);
            c.months_with_sales += 1;
            c.purchases += r.purchases;
        }
    }
    Ok(out)
}

/// A share in percent given as a parameter, checked to lie in `[0, 100]`.
pub fn percent(value: Option<f64>, default: f64, field: &str) -> Result<f64, ApiError> {
    let v = value.unwrap_or(default);
    if !(0.0..=100.0).contains(&v) || v.is_nan() {
        return Err(ApiError::query(field, "must be a percentage between 0 and 100"));
    }
    Ok(v)
}

/// Percent as hundredths of a percent (basis points), the unit exact comparisons use.
pub fn basis_points(percent: f64) -> i128 {
    (percent * 100.0).round() as i128
}

/// `part / whole <= bp / 10000`, decided exactly.
pub fn share_at_most(part: i128, whole: i128, bp: i128) -> bool {
    part * 10_000 <= bp * whole
}

/// `ceil(n × percent / 100)`: how many of `n` ranked clients a top share takes.
pub fn top_count(n: usize, percent: f64) -> usize {
    let bp = basis_points(percent) as u128;
    (((n as u128) * bp).div_ceil(10_000)) as usize
}

/// What reports show of a client next to its figures.
#[derive(Debug, Clone, Default)]
pub struct ClientLabel {
    pub name: String,
    pub owner_id: Option<i64>,
    pub channel: Option<String>,
}

/// Names, owners and channels of clients, for the rows of one page (one query).
pub fn client_names(conn: &mut DbConn, ids: &[i64]) -> QueryResult<std::collections::HashMap<i64, ClientLabel>> {
    use crate::db::schema::clients;
    Ok(clients::table
        .filter(clients::id.eq_any(ids))
        .select((clients::id, clients::name, clients::owner_id, clients::channel))
        .load::<(i64, String, Option<i64>, Option<String>)>(conn)?
        .into_iter()
        .map(|(id, name, owner_id, channel)| (id, ClientLabel { name, owner_id, channel }))
        .collect())
}

/// First day of the month `index` (`year * 12 + month - 1`).
pub fn month_start(index: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1).unwrap_or_default()
}

/// `YYYY-MM` of a date, for reports.
pub fn month_label(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_compared_exactly() {
        assert!(share_at_most(80, 100, 8000));
        assert!(!share_at_most(81, 100, 8000));
        assert!(share_at_most(2, 3, 6667));
        assert!(!share_at_most(2, 3, 6666));
        assert_eq!(top_count(10, 20.0), 2);
        assert_eq!(top_count(11, 20.0), 3);
        assert_eq!(top_count(0, 20.0), 0);
        assert_eq!(
            month_start(month_index(NaiveDate::from_ymd_opt(2026, 3, 17).unwrap())),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
    }

    #[test]
    fn scope_defaults_to_a_year_and_pins_managers() {
        let s = ReportScope::new(None, NaiveDate::from_ymd_opt(2026, 12, 31), None, None, None, Some(7)).unwrap();
        assert_eq!(s.from, NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        assert_eq!(s.months(), 12);
        assert_eq!(s.owner_id, Some(7));
        assert!(ReportScope::new(None, None, None, Some(8), None, Some(7)).is_err());
    }
}
