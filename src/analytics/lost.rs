//! Lost clients ranked by what they brought (margin, or revenue) over the period — by default
//! their whole history — or by their potential, with the reason and the last contact.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ReportScope;
use crate::db::schema::activities;
use crate::db::sql::Sql;
use crate::db::DbConn;
use crate::error::ApiError;
use crate::money;
use crate::pagination::{Cursor, KeyValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LostSort {
    Margin,
    Revenue,
    Potential,
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
struct Row {
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

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LostClient {
    pub client_id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    pub channel: Option<String>,
    pub lost_reason: Option<String>,
    /// Margin over the period, a decimal amount.
    pub margin: String,
    /// Revenue over the period, a decimal amount.
    pub revenue: String,
    /// Estimated potential, a decimal amount (0 when unknown).
    pub potential: String,
    pub last_purchase_on: Option<NaiveDate>,
    /// The latest activity with the client.
    pub last_contact_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A page of lost clients, best first; the cursor carries the sort value and id.
pub fn page(
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
    let mut rows: Vec<Row> = sql.query().load(conn)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| {
            let key = match sort {
                LostSort::Margin => r.margin,
                LostSort::Revenue => r.revenue,
                LostSort::Potential => r.potential,
            };
            Cursor { sort: tag.clone(), key: KeyValue::Int(key), id: r.id }.encode()
        })
    } else {
        None
    };
    // The last contact and last purchase for this page only, in two queries.
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let contacts: std::collections::HashMap<i64, NaiveDateTime> = activities::table
        .filter(activities::client_id.eq_any(&ids))
        .filter(activities::deleted_at.is_null())
        .group_by(activities::client_id)
        .select((activities::client_id, diesel::dsl::max(activities::occurred_at)))
        .load::<(i64, Option<NaiveDateTime>)>(conn)?
        .into_iter()
        .filter_map(|(id, at)| at.map(|at| (id, at)))
        .collect();
    let purchases: std::collections::HashMap<i64, Option<NaiveDate>> = {
        use crate::db::schema::clients;
        clients::table
            .filter(clients::id.eq_any(&ids))
            .select((clients::id, clients::last_purchase_on))
            .load::<(i64, Option<NaiveDate>)>(conn)?
            .into_iter()
            .collect()
    };
    let items = rows
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
    Ok((items, next))
}
