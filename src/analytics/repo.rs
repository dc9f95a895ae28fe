//! The analytics queries: what each report reads from the database, aggregated there, at most
//! one row per client.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::abcde::Candidate as AbcdeCandidate;
use super::ReportScope;
use crate::db::DbConn;
use crate::error::ApiError;

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
    let mut sql = crate::db::sql::Sql::new(
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
