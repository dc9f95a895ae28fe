//! The analytics queries: what each report reads from the database, aggregated there, at most
//! one row per client (or per group), and the SQL conditions of a report's scope.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Double, Nullable, Text};

use super::abcde::Candidate as AbcdeCandidate;
use super::census::{self, CensusCounts, Incomplete, FIELDS};
use super::funnel::{GroupBy, StageCount};
use super::lost::{LostClient, LostSort};
use super::model::{ClientLabel, ClientSums, Measure, ReportScope};
use super::reactivation::Rhythm;
use super::summary::{Figures, Movement};
use crate::db::schema::{activities, clients, sales};
use crate::db::sql::{seconds_between, Sql};
use crate::db::DbConn;
use crate::error::ApiError;
use crate::money;
use crate::pagination::{page_from, Cursor, KeyValue};

impl ReportScope {
    /// Appends ` AND …` conditions on the client alias `c` (live clients of the scope; a card
    /// that is only a supplier, partner or competitor is not a client).
    pub fn push_client_filter(&self, sql: &mut Sql) {
        sql.push(" AND c.deleted_at IS NULL").push(crate::clients::repo::IS_CLIENT_SQL);
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

impl Measure {
    fn column(self) -> &'static str {
        match self {
            Measure::Revenue => "s.amount",
            Measure::Margin => "COALESCE(s.margin, 0)",
        }
    }
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

/// Names, owners and channels of clients, for the rows of one page (one query).
pub fn client_names(conn: &mut DbConn, ids: &[i64]) -> QueryResult<HashMap<i64, ClientLabel>> {
    Ok(clients::table
        .filter(clients::id.eq_any(ids))
        .select((clients::id, clients::name, clients::owner_id, clients::channel))
        .load::<(i64, String, Option<i64>, Option<String>)>(conn)?
        .into_iter()
        .map(|(id, name, owner_id, channel)| (id, ClientLabel { name, owner_id, channel }))
        .collect())
}

/// Active clients of the scope with their margin over the period and their potential.
pub fn abcde_candidates(conn: &mut DbConn, scope: &ReportScope) -> Result<Vec<AbcdeCandidate>, ApiError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Nullable<Text>)]
        channel: Option<String>,
        #[diesel(sql_type = BigInt)]
        profit: i64,
        #[diesel(sql_type = BigInt)]
        potential: i64,
    }
    let mut sql = Sql::new(
        "SELECT c.id AS id, c.channel AS channel, CAST(COALESCE(SUM(COALESCE(s.margin, 0)), 0) AS BIGINT) AS profit, \
         COALESCE(c.estimated_potential, 0) AS potential FROM clients c LEFT JOIN sales s ON s.client_id = c.id",
    );
    scope.push_period(&mut sql);
    sql.push(" WHERE c.status = 'active'");
    scope.push_client_filter(&mut sql);
    sql.push(" GROUP BY c.id, c.channel, c.estimated_potential");
    let rows: Vec<Row> = sql.query().load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| AbcdeCandidate { client_id: r.id, channel: r.channel, profit: r.profit, potential: r.potential })
        .collect())
}

/// Per group and stage of a pipeline: the distinct deals that entered the stage during the
/// period and the average seconds of their ended stays.
pub fn funnel_counts(
    conn: &mut DbConn,
    scope: &ReportScope,
    pipeline_id: i64,
    group_by: Option<GroupBy>,
) -> QueryResult<Vec<StageCount>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Nullable<Text>)]
        grp: Option<String>,
        #[diesel(sql_type = BigInt)]
        stage_id: i64,
        #[diesel(sql_type = BigInt)]
        entered: i64,
        #[diesel(sql_type = Nullable<Double>)]
        avg_seconds: Option<f64>,
    }
    let backend = conn.backend();
    let group = match group_by {
        None => "'all'",
        Some(GroupBy::Owner) => "CAST(owner_id AS TEXT)",
        Some(GroupBy::Channel) => "channel",
    };
    // The stay in a stage ends when the deal's next move happens: LEAD over its whole history.
    let mut sql = Sql::new(
        "WITH moves AS (SELECT h.deal_id, h.to_stage_id, h.owner_id, h.channel, h.changed_at, \
         LEAD(h.changed_at) OVER (PARTITION BY h.deal_id ORDER BY h.changed_at, h.id) AS left_at \
         FROM deal_stage_history h JOIN deals d ON d.id = h.deal_id JOIN clients c ON c.id = d.client_id \
         WHERE d.deleted_at IS NULL AND c.deleted_at IS NULL",
    );
    sql.push(crate::clients::repo::IS_CLIENT_SQL).push(" AND h.pipeline_id = ");
    sql.int(pipeline_id);
    if let Some(region) = &scope.region {
        sql.push(" AND c.region = ").text(region);
    }
    sql.push(&format!(
        ") SELECT {group} AS grp, to_stage_id AS stage_id, COUNT(DISTINCT deal_id) AS entered, \
         CAST(AVG({}) AS DOUBLE PRECISION) AS avg_seconds FROM moves WHERE changed_at >= ",
        seconds_between(backend, "changed_at", "left_at")
    ));
    let (from, until) = scope.bounds();
    sql.timestamp(from).push(" AND changed_at < ").timestamp(until);
    if let Some(owner) = scope.owner_id {
        sql.push(" AND owner_id = ").int(owner);
    }
    if let Some(channel) = &scope.channel {
        sql.push(" AND channel = ").text(channel);
    }
    // PostgreSQL refuses a constant in GROUP BY, so the ungrouped report groups by stage only.
    sql.push(&match group_by {
        None => " GROUP BY to_stage_id".to_string(),
        Some(_) => format!(" GROUP BY {group}, to_stage_id"),
    });
    let rows: Vec<Row> = sql.query().load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| StageCount { grp: r.grp, stage_id: r.stage_id, entered: r.entered, avg_seconds: r.avg_seconds })
        .collect())
}

impl LostSort {
    fn column(self) -> &'static str {
        match self {
            LostSort::Margin => "margin",
            LostSort::Revenue => "revenue",
            LostSort::Potential => "potential",
        }
    }
}

#[derive(QueryableByName)]
struct LostRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    owner_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    channel: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    lost_reason: Option<String>,
    #[diesel(sql_type = BigInt)]
    margin: i64,
    #[diesel(sql_type = BigInt)]
    revenue: i64,
    #[diesel(sql_type = BigInt)]
    potential: i64,
}

/// A page of lost clients, best first; the cursor carries the sort value and id.
pub fn lost_clients(
    conn: &mut DbConn,
    scope: &ReportScope,
    whole_history: bool,
    sort: LostSort,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<LostClient>, Option<String>), ApiError> {
    let tag = format!("lost:{}", sort.column());
    // Joined and grouped directly (not through an aggregated subquery), so the planner walks
    // each lost client's sales by index instead of aggregating every sale.
    let mut sql = Sql::new(
        "SELECT * FROM (SELECT c.id AS id, c.name AS name, c.owner_id AS owner_id, c.channel AS channel, \
         c.lost_reason AS lost_reason, CAST(COALESCE(SUM(COALESCE(s.margin, 0)), 0) AS BIGINT) AS margin, \
         CAST(COALESCE(SUM(s.amount), 0) AS BIGINT) AS revenue, COALESCE(c.estimated_potential, 0) AS potential \
         FROM clients c LEFT JOIN sales s ON s.client_id = c.id",
    );
    if !whole_history {
        sql.push(" AND s.sold_on >= ").date(scope.from);
    }
    sql.push(" AND s.sold_on <= ").date(scope.to);
    sql.push(" WHERE c.status = 'lost'");
    scope.push_client_filter(&mut sql);
    sql.push(" GROUP BY c.id, c.name, c.owner_id, c.channel, c.lost_reason, c.estimated_potential) AS t");
    let column = sort.column();
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, &tag)?;
        let value = c.int()?;
        sql.push(&format!(" WHERE {column} < ")).int(value);
        sql.push(&format!(" OR ({column} = ")).int(value).push(" AND id > ").int(c.id).push(")");
    }
    sql.push(&format!(" ORDER BY {column} DESC, id ASC LIMIT ")).int(limit + 1);
    let rows: Vec<LostRow> = sql.query().load(conn)?;
    let page = page_from(rows, limit, |r| {
        let key = match sort {
            LostSort::Margin => r.margin,
            LostSort::Revenue => r.revenue,
            LostSort::Potential => r.potential,
        };
        Cursor { sort: tag.clone(), key: KeyValue::Int(key), id: r.id }
    });
    // The last contact and last purchase for this page only, in two queries.
    let ids: Vec<i64> = page.items.iter().map(|r| r.id).collect();
    let contacts: HashMap<i64, NaiveDateTime> = activities::table
        .filter(activities::client_id.eq_any(&ids))
        .filter(activities::deleted_at.is_null())
        .group_by(activities::client_id)
        .select((activities::client_id, diesel::dsl::max(activities::occurred_at)))
        .load::<(i64, Option<NaiveDateTime>)>(conn)?
        .into_iter()
        .filter_map(|(id, at)| at.map(|at| (id, at)))
        .collect();
    let purchases: HashMap<i64, Option<NaiveDate>> = clients::table
        .filter(clients::id.eq_any(&ids))
        .select((clients::id, clients::last_purchase_on))
        .load::<(i64, Option<NaiveDate>)>(conn)?
        .into_iter()
        .collect();
    let items = page
        .items
        .into_iter()
        .map(|r| LostClient {
            last_contact_at: contacts.get(&r.id).map(|t| t.and_utc()),
            last_purchase_on: purchases.get(&r.id).copied().flatten(),
            client_id: r.id,
            name: r.name,
            owner_id: r.owner_id,
            channel: r.channel,
            lost_reason: r.lost_reason,
            margin: money::format_minor(r.margin),
            revenue: money::format_minor(r.revenue),
            potential: money::format_minor(r.potential),
        })
        .collect();
    Ok((items, page.next_cursor))
}

/// Per field of [`census::FIELDS`], in its order: the SQL condition that is true when the
/// client misses it; companies-only checks include the kind in the condition.
const MISSING: [&str; FIELDS.len()] = [
    "c.phones = '[]'",
    "c.emails = '[]'",
    "c.owner_id IS NULL",
    "c.channel IS NULL",
    "c.region IS NULL",
    "c.industry IS NULL",
    "c.kind = 'company' AND c.inn IS NULL",
    "c.kind = 'company' AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.client_id = c.id \
     AND k.is_decision_maker = TRUE AND k.deleted_at IS NULL)",
];

/// The census's clients: those of the scope, and only those created in the period when asked.
fn census_scope(sql: &mut Sql, scope: &ReportScope, created_in_period: bool) {
    scope.push_client_filter(sql);
    if created_in_period {
        let (from, until) = scope.bounds();
        sql.push(" AND c.created_at >= ").timestamp(from).push(" AND c.created_at < ").timestamp(until);
    }
}

impl QueryableByName<crate::db::Db> for CensusCounts {
    fn build<'a>(row: &impl diesel::row::NamedRow<'a, crate::db::Db>) -> diesel::deserialize::Result<Self> {
        let mut missing = [0i64; FIELDS.len()];
        for (i, slot) in missing.iter_mut().enumerate() {
            *slot = diesel::row::NamedRow::get::<BigInt, i64>(row, &format!("m{i}"))?;
        }
        Ok(CensusCounts {
            owner_id: diesel::row::NamedRow::get::<Nullable<BigInt>, Option<i64>>(row, "owner_id")?,
            clients: diesel::row::NamedRow::get::<BigInt, i64>(row, "clients")?,
            companies: diesel::row::NamedRow::get::<BigInt, i64>(row, "companies")?,
            missing,
        })
    }
}

/// The census's counts per owner (one grouped query), by owner.
pub fn census_counts(
    conn: &mut DbConn,
    scope: &ReportScope,
    created_in_period: bool,
) -> QueryResult<Vec<CensusCounts>> {
    let sums: Vec<String> = MISSING
        .iter()
        .enumerate()
        .map(|(i, cond)| format!("CAST(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS BIGINT) AS m{i}"))
        .collect();
    let mut sql = Sql::new(&format!(
        "SELECT c.owner_id AS owner_id, COUNT(*) AS clients, \
         CAST(SUM(CASE WHEN c.kind = 'company' THEN 1 ELSE 0 END) AS BIGINT) AS companies, {} \
         FROM clients c WHERE 1 = 1",
        sums.join(", ")
    ));
    census_scope(&mut sql, scope, created_in_period);
    sql.push(" GROUP BY c.owner_id ORDER BY c.owner_id");
    sql.query().load(conn)
}

#[derive(QueryableByName)]
struct WorstRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    owner_id: Option<i64>,
    #[diesel(sql_type = BigInt)]
    missing: i64,
    #[diesel(sql_type = Text)]
    flags: String,
}

/// The clients missing the most, worst first (ties by id), keyset-paginated.
pub fn worst_clients(
    conn: &mut DbConn,
    scope: &ReportScope,
    created_in_period: bool,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<Incomplete>, Option<String>), ApiError> {
    const TAG: &str = "census";
    let flag = |cond: &str| format!("(CASE WHEN {cond} THEN 1 ELSE 0 END)");
    let count = MISSING.iter().map(|c| flag(c)).collect::<Vec<_>>().join(" + ");
    // One character per check, '1' when missing: decoded into field names by the census.
    let flags =
        MISSING.iter().map(|c| format!("(CASE WHEN {c} THEN '1' ELSE '0' END)")).collect::<Vec<_>>().join(" || ");
    let mut sql = Sql::new(&format!(
        "SELECT * FROM (SELECT c.id AS id, c.name AS name, c.owner_id AS owner_id, \
         CAST({count} AS BIGINT) AS missing, {flags} AS flags FROM clients c WHERE 1 = 1"
    ));
    census_scope(&mut sql, scope, created_in_period);
    sql.push(") AS t WHERE missing > 0");
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, TAG)?;
        let m = c.int()?;
        sql.push(" AND (missing < ").int(m).push(" OR (missing = ").int(m).push(" AND id > ").int(c.id).push("))");
    }
    sql.push(" ORDER BY missing DESC, id ASC LIMIT ").int(limit + 1);
    let rows: Vec<WorstRow> = sql.query().load(conn)?;
    let page = page_from(rows, limit, |r| Cursor { sort: TAG.into(), key: KeyValue::Int(r.missing), id: r.id });
    let items = page
        .items
        .into_iter()
        .map(|r| Incomplete {
            client_id: r.id,
            name: r.name,
            owner_id: r.owner_id,
            missing: census::missing_fields(&r.flags),
        })
        .collect();
    Ok((items, page.next_cursor))
}

#[derive(QueryableByName)]
struct RhythmRow {
    #[diesel(sql_type = BigInt)]
    client_id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    owner_id: Option<i64>,
    #[diesel(sql_type = Date)]
    first_on: NaiveDate,
    #[diesel(sql_type = Date)]
    last_on: NaiveDate,
    #[diesel(sql_type = BigInt)]
    days: i64,
    #[diesel(sql_type = BigInt)]
    purchases: i64,
    #[diesel(sql_type = BigInt)]
    revenue: i64,
}

/// Purchase rhythm of active clients in scope, from sales up to `as_of` (one row per client).
pub fn rhythms(conn: &mut DbConn, scope: &ReportScope, as_of: NaiveDate) -> QueryResult<Vec<Rhythm>> {
    // Usually nothing is dated after `as_of` (today): then the figures every sale write keeps on
    // the card are exactly these, and one pass over the clients replaces one over the sales.
    let later: Option<i64> = sales::table.filter(sales::sold_on.gt(as_of)).select(sales::id).first(conn).optional()?;
    let mut sql = Sql::new("SELECT c.id AS client_id, c.name AS name, c.owner_id AS owner_id, ");
    if later.is_none() {
        sql.push(
            "c.first_purchase_on AS first_on, c.last_purchase_on AS last_on, c.purchase_days AS days, \
             c.purchase_count AS purchases, c.revenue_total AS revenue FROM clients c \
             WHERE c.status = 'active' AND c.purchase_count > 0",
        );
    } else {
        sql.push(
            "f.first_on, f.last_on, f.days, f.purchases, f.revenue FROM clients c JOIN (SELECT s.client_id, \
             MIN(s.sold_on) AS first_on, MAX(s.sold_on) AS last_on, COUNT(DISTINCT s.sold_on) AS days, \
             COUNT(*) AS purchases, CAST(SUM(s.amount) AS BIGINT) AS revenue FROM sales s WHERE s.sold_on <= ",
        )
        .date(as_of)
        .push(" GROUP BY s.client_id) f ON f.client_id = c.id WHERE c.status = 'active'");
    }
    scope.push_client_filter(&mut sql);
    let rows: Vec<RhythmRow> = sql.query().load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| Rhythm {
            client_id: r.client_id,
            name: r.name,
            owner_id: r.owner_id,
            first_on: r.first_on,
            last_on: r.last_on,
            days: r.days,
            purchases: r.purchases,
            revenue: r.revenue,
        })
        .collect())
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

/// What the summary counts over the scope, in five queries.
pub fn summary_figures(conn: &mut DbConn, scope: &ReportScope) -> QueryResult<Figures> {
    let (from, until) = scope.bounds();

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

    Ok(Figures {
        statuses,
        movement,
        new_clients,
        revenue: totals.revenue,
        margin: totals.margin,
        purchases: totals.purchases,
        contacts,
    })
}
