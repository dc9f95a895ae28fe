//! Ids of records in other systems: one per source system (`{"1c": "…", "shop": "…"}`), each
//! unique within its source for a kind of record.

use std::collections::{BTreeMap, HashMap};

use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Nullable, Text};

use crate::db::schema::external_ids;
use crate::db::{Backend, DbConn};

/// The contract of an external ids map: `names` is the schema of the source names (which differ
/// by kind of record), each id is 1 to 200 characters, not blank.
pub fn schema(names: utoipa::openapi::schema::ObjectBuilder) -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let id = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(200));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(names))
        .additional_properties(Some(id.pattern(Some(r"\S"))))
}

/// A record's external ids as a JSON object (NULL or `{}` when it has none), as a column to
/// select beside the record itself: `id_column` names the record's id in the outer query. One
/// statement then reads a card and its ids.
fn json_sql(backend: Backend, entity: &'static str, id_column: &'static str) -> String {
    debug_assert!(entity.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    let object = match backend {
        Backend::Postgres => "json_object_agg(e.source, e.external_id)::text",
        Backend::Sqlite => "json_group_object(e.source, e.external_id)",
    };
    format!("(SELECT {object} FROM external_ids e WHERE e.entity_id = {id_column} AND e.entity_type = '{entity}')")
}

/// [`json_sql`] as a column of a diesel query. `diesel::dsl::sql` would do the same, but diesel
/// cannot vouch for a literal's text and so prepares every statement holding one afresh (on
/// PostgreSQL a parse, a plan and an extra round trip on each read of a card). This text is fixed
/// by the backend and the arguments, so the statement cache may key the statement by its SQL and
/// reuse it on the connection.
#[derive(Debug, Clone)]
pub struct JsonColumn(String);

pub fn json_column(backend: Backend, entity: &'static str, id_column: &'static str) -> JsonColumn {
    JsonColumn(json_sql(backend, entity, id_column))
}

impl Expression for JsonColumn {
    type SqlType = Nullable<Text>;
}

impl<QS: ?Sized> AppearsOnTable<QS> for JsonColumn {}

impl<QS: ?Sized> SelectableExpression<QS> for JsonColumn {}

impl<GB> ValidGrouping<GB> for JsonColumn {
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

/// No static id: the text differs by backend and arguments, so the cache keys it by the SQL.
impl QueryId for JsonColumn {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: diesel::backend::Backend> QueryFragment<DB> for JsonColumn {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(&self.0);
        Ok(())
    }
}

/// The map [`json_sql`] selected.
pub fn from_json(selected: Option<String>) -> BTreeMap<String, String> {
    selected.and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default()
}

/// The external ids of several records of one kind, in one query.
pub fn of(conn: &mut DbConn, entity: &str, ids: &[i64]) -> QueryResult<HashMap<i64, BTreeMap<String, String>>> {
    let rows: Vec<(i64, String, String)> = external_ids::table
        .filter(external_ids::entity_type.eq(entity))
        .filter(external_ids::entity_id.eq_any(ids))
        .select((external_ids::entity_id, external_ids::source, external_ids::external_id))
        .load(conn)?;
    let mut map: HashMap<i64, BTreeMap<String, String>> = HashMap::new();
    for (id, source, external) in rows {
        map.entry(id).or_default().insert(source, external);
    }
    Ok(map)
}

/// Which records hold these external ids of `source`, in one query.
pub fn holders(conn: &mut DbConn, entity: &str, source: &str, externals: &[&str]) -> QueryResult<HashMap<String, i64>> {
    let rows: Vec<(String, i64)> = external_ids::table
        .filter(external_ids::entity_type.eq(entity))
        .filter(external_ids::source.eq(source))
        .filter(external_ids::external_id.eq_any(externals))
        .select((external_ids::external_id, external_ids::entity_id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Replaces all external ids of one record.
pub fn replace(conn: &mut DbConn, entity: &str, id: i64, ids: &BTreeMap<String, String>) -> QueryResult<()> {
    diesel::delete(
        external_ids::table.filter(external_ids::entity_type.eq(entity)).filter(external_ids::entity_id.eq(id)),
    )
    .execute(conn)?;
    let rows: Vec<(i64, &str, &str)> = ids.iter().map(|(s, e)| (id, s.as_str(), e.as_str())).collect();
    insert(conn, entity, &rows)
}

/// Adds `(record id, source, external id)` rows with one statement.
pub fn insert(conn: &mut DbConn, entity: &str, rows: &[(i64, &str, &str)]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let values: Vec<_> = rows
        .iter()
        .map(|(id, source, external)| {
            (
                external_ids::entity_type.eq(entity),
                external_ids::entity_id.eq(*id),
                external_ids::source.eq(*source),
                external_ids::external_id.eq(*external),
            )
        })
        .collect();
    crate::insert_rows!(conn, external_ids::table, &values)?;
    Ok(())
}
