//! The census of the base: how many clients miss a phone, an email, an owner, a channel, a
//! region, an industry, an INN (companies only) or a decision-maker contact (companies only),
//! overall and per owner, and the clients missing the most first.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde::Serialize;
use utoipa::ToSchema;

use super::ReportScope;
use crate::db::sql::Sql;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::pagination::{Cursor, KeyValue};

/// `(field, SQL condition that is true when the client misses it)`; companies-only checks
/// include the kind in the condition.
const CHECKS: [(&str, &str); 8] = [
    ("phone", "c.phones = '[]'"),
    ("email", "c.emails = '[]'"),
    ("owner", "c.owner_id IS NULL"),
    ("channel", "c.channel IS NULL"),
    ("region", "c.region IS NULL"),
    ("industry", "c.industry IS NULL"),
    ("inn", "c.kind = 'company' AND c.inn IS NULL"),
    (
        "decision_maker",
        "c.kind = 'company' AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.client_id = c.id \
         AND k.is_decision_maker = TRUE AND k.deleted_at IS NULL)",
    ),
];

const COMPANIES_ONLY: [&str; 2] = ["inn", "decision_maker"];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldGap {
    pub field: String,
    /// Clients missing it.
    pub missing: i64,
    /// Of the clients it applies to (companies for `inn` and `decision_maker`), 0–1.
    pub share: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Census {
    /// Null in the overall figures and for clients without an owner.
    pub owner_id: Option<i64>,
    pub clients: i64,
    pub companies: i64,
    pub fields: Vec<FieldGap>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Incomplete {
    pub client_id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    /// The fields it misses.
    pub missing: Vec<String>,
}

fn scoped(sql: &mut Sql, scope: &ReportScope, created_in_period: bool) {
    scope.push_client_filter(sql);
    if created_in_period {
        let from = scope.from.and_hms_opt(0, 0, 0).unwrap_or_default();
        let until = (scope.to + chrono::Duration::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default();
        sql.push(" AND c.created_at >= ").timestamp(from).push(" AND c.created_at < ").timestamp(until);
    }
}

/// Overall figures (first) and per-owner figures, from one grouped query.
pub fn census(conn: &mut DbConn, scope: &ReportScope, created_in_period: bool) -> QueryResult<Vec<Census>> {
    let sums: Vec<String> = CHECKS
        .iter()
        .enumerate()
        .map(|(i, (_, cond))| format!("CAST(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS BIGINT) AS m{i}"))
        .collect();
    let mut sql = Sql::new(&format!(
        "SELECT c.owner_id AS owner_id, COUNT(*) AS clients, \
         CAST(SUM(CASE WHEN c.kind = 'company' THEN 1 ELSE 0 END) AS BIGINT) AS companies, {} \
         FROM clients c WHERE 1 = 1",
        sums.join(", ")
    ));
    scoped(&mut sql, scope, created_in_period);
    sql.push(" GROUP BY c.owner_id ORDER BY c.owner_id");
    let rows: Vec<CensusRow> = sql.query().load(conn)?;
    let mut overall = CensusRow { owner_id: None, clients: 0, companies: 0, m: [0; 8] };
    for r in &rows {
        overall.clients += r.clients;
        overall.companies += r.companies;
        for i in 0..CHECKS.len() {
            overall.m[i] += r.m[i];
        }
    }
    Ok(std::iter::once(&overall).chain(rows.iter()).map(CensusRow::to_census).collect())
}

struct CensusRow {
    owner_id: Option<i64>,
    clients: i64,
    companies: i64,
    m: [i64; 8],
}

impl QueryableByName<crate::db::Db> for CensusRow {
    fn build<'a>(row: &impl diesel::row::NamedRow<'a, crate::db::Db>) -> diesel::deserialize::Result<Self> {
        let mut m = [0i64; 8];
        for (i, slot) in m.iter_mut().enumerate() {
            *slot = diesel::row::NamedRow::get::<BigInt, i64>(row, &format!("m{i}"))?;
        }
        Ok(CensusRow {
            owner_id: diesel::row::NamedRow::get::<Nullable<BigInt>, Option<i64>>(row, "owner_id")?,
            clients: diesel::row::NamedRow::get::<BigInt, i64>(row, "clients")?,
            companies: diesel::row::NamedRow::get::<BigInt, i64>(row, "companies")?,
            m,
        })
    }
}

impl CensusRow {
    fn to_census(&self) -> Census {
        let fields = CHECKS
            .iter()
            .enumerate()
            .map(|(i, (field, _))| {
                let base = if COMPANIES_ONLY.contains(field) { self.companies } else { self.clients };
                FieldGap {
                    field: field.to_string(),
                    missing: self.m[i],
                    share: if base == 0 { 0.0 } else { self.m[i] as f64 / base as f64 },
                }
            })
            .collect();
        Census { owner_id: self.owner_id, clients: self.clients, companies: self.companies, fields }
    }
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
pub fn worst(
    conn: &mut DbConn,
    scope: &ReportScope,
    created_in_period: bool,
    cursor: Option<&str>,
    limit: i64,
) -> Result<(Vec<Incomplete>, Option<String>), ApiError> {
    const TAG: &str = "census";
    let flag = |cond: &str| format!("(CASE WHEN {cond} THEN 1 ELSE 0 END)");
    let count = CHECKS.iter().map(|(_, c)| flag(c)).collect::<Vec<_>>().join(" + ");
    // One character per check, '1' when missing: decoded into field names below.
    let flags =
        CHECKS.iter().map(|(_, c)| format!("(CASE WHEN {c} THEN '1' ELSE '0' END)")).collect::<Vec<_>>().join(" || ");
    let mut sql = Sql::new(&format!(
        "SELECT * FROM (SELECT c.id AS id, c.name AS name, c.owner_id AS owner_id, \
         CAST({count} AS BIGINT) AS missing, {flags} AS flags FROM clients c WHERE 1 = 1"
    ));
    scoped(&mut sql, scope, created_in_period);
    sql.push(") AS t WHERE missing > 0");
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, TAG)?;
        let m = c.int()?;
        sql.push(" AND (missing < ").int(m).push(" OR (missing = ").int(m).push(" AND id > ").int(c.id).push("))");
    }
    sql.push(" ORDER BY missing DESC, id ASC LIMIT ").int(limit + 1);
    let mut rows: Vec<WorstRow> = sql.query().load(conn)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| Cursor { sort: TAG.into(), key: KeyValue::Int(r.missing), id: r.id }.encode())
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|r| Incomplete {
            client_id: r.id,
            name: r.name,
            owner_id: r.owner_id,
            missing: CHECKS
                .iter()
                .zip(r.flags.chars())
                .filter(|(_, f)| *f == '1')
                .map(|((field, _), _)| field.to_string())
                .collect(),
        })
        .collect();
    Ok((items, next))
}
