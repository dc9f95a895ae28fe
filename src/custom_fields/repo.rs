//! Custom field storage: the definitions, and the value index every write of a client, contact
//! or deal keeps in step — what filters read and what the unique index guards.

use diesel::prelude::*;
use serde_json::{Map, Value};

use super::model::{CustomEntity, Definition, DefinitionRow, FieldOption, NewDefinition};
use super::values::{IndexValue, Schema};
use crate::db::schema::{clients, contacts, custom_field_values as values, custom_fields, deals};
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::versioning::AtReadVersion;
use crate::with_backend;

pub fn list(conn: &mut DbConn, entity: Option<CustomEntity>) -> QueryResult<Vec<Definition>> {
    let mut q = custom_fields::table.select(DefinitionRow::as_select()).into_boxed::<Db>();
    if let Some(e) = entity {
        q = q.filter(custom_fields::entity.eq(e.as_str()));
    }
    let rows = q.order((custom_fields::entity, custom_fields::id)).load(conn)?;
    Ok(rows.into_iter().map(Definition::from).collect())
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<Definition, ApiError> {
    Ok(custom_fields::table.find(id).select(DefinitionRow::as_select()).first(conn).map(Definition::from)?)
}

/// The definitions of an entity's fields (one query; the table is small).
pub fn schema(conn: &mut DbConn, entity: CustomEntity) -> QueryResult<Schema> {
    Ok(Schema { entity: Some(entity), fields: list(conn, Some(entity))? })
}

fn options_json(options: &[FieldOption]) -> String {
    serde_json::to_string(options).unwrap_or_else(|_| "[]".into())
}

pub fn insert(conn: &mut DbConn, d: &NewDefinition) -> Result<Definition, ApiError> {
    let at = now();
    diesel::insert_into(custom_fields::table)
        .values((
            custom_fields::entity.eq(d.entity.as_str()),
            custom_fields::field_key.eq(&d.key),
            custom_fields::label.eq(&d.label),
            custom_fields::field_type.eq(d.field_type.as_str()),
            custom_fields::options.eq(options_json(&d.options)),
            custom_fields::required.eq(d.required),
            custom_fields::is_unique.eq(d.unique),
            custom_fields::filterable.eq(d.filterable),
            custom_fields::archived.eq(false),
            custom_fields::version.eq(1),
            custom_fields::created_at.eq(at),
            custom_fields::updated_at.eq(at),
        ))
        .returning(custom_fields::all_columns)
        .get_result::<DefinitionRow>(conn)
        .map(Definition::from)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => {
                ApiError::Conflict(format!("{} already has a custom field '{}'", d.entity.as_str(), d.key))
            }
            other => other,
        })
}

/// Writes the changed definition over the version read.
pub fn update(conn: &mut DbConn, d: &Definition) -> Result<Definition, ApiError> {
    diesel::update(custom_fields::table.find(d.id).filter(custom_fields::version.eq(d.version)))
        .set((
            custom_fields::label.eq(&d.label),
            custom_fields::options.eq(options_json(&d.options)),
            custom_fields::required.eq(d.required),
            custom_fields::is_unique.eq(d.unique),
            custom_fields::filterable.eq(d.filterable),
            custom_fields::archived.eq(d.archived),
            custom_fields::version.eq(d.version + 1),
            custom_fields::updated_at.eq(now()),
        ))
        .returning(custom_fields::all_columns)
        .get_result::<DefinitionRow>(conn)
        .map(Definition::from)
        .at_read_version()
}

/// Replaces the index rows of these records with those of their values (two statements per
/// thousand records). A unique value another record holds fails the write.
pub fn write_values(
    conn: &mut DbConn,
    schema: &Schema,
    records: &[(i64, &Map<String, Value>)],
    replace: bool,
) -> QueryResult<()> {
    let Some(entity) = schema.entity else { return Ok(()) };
    if replace {
        let ids: Vec<i64> = records.iter().map(|(id, _)| *id).collect();
        remove_values(conn, entity, &ids)?;
    }
    if schema.fields.is_empty() {
        return Ok(());
    }
    let rows: Vec<(i64, IndexValue)> =
        records.iter().flat_map(|(id, map)| schema.index(map).into_iter().map(move |v| (*id, v))).collect();
    insert_values(conn, entity, &rows)
}

/// [`write_values`] for writers that have not read the definitions: they are read only when a
/// record has custom fields at all, which most bulk writes (sync, imports) do not.
pub fn index_records(
    conn: &mut DbConn,
    entity: CustomEntity,
    records: &[(i64, &Map<String, Value>)],
    replace: bool,
) -> QueryResult<()> {
    if replace {
        let ids: Vec<i64> = records.iter().map(|(id, _)| *id).collect();
        remove_values(conn, entity, &ids)?;
    }
    if records.iter().all(|(_, map)| map.is_empty()) {
        return Ok(());
    }
    let schema = schema(conn, entity)?;
    write_values(conn, &schema, records, false)
}

fn insert_values(conn: &mut DbConn, entity: CustomEntity, rows: &[(i64, IndexValue)]) -> QueryResult<()> {
    let tuples: Vec<_> = rows
        .iter()
        .map(|(id, v)| {
            (
                values::entity.eq(entity.as_str()),
                values::record_id.eq(*id),
                values::field_key.eq(v.key.as_str()),
                values::value.eq(v.value.as_str()),
                values::number.eq(v.number),
                values::unique_value.eq(v.unique.then_some(v.value.as_str())),
            )
        })
        .collect();
    for chunk in tuples.chunks(5000) {
        with_backend!(conn, |c| diesel::insert_into(values::table).values(chunk).execute(c))?;
    }
    Ok(())
}

/// Drops the index rows of these records (deleted ones hold no value, unique or not).
pub fn remove_values(conn: &mut DbConn, entity: CustomEntity, ids: &[i64]) -> QueryResult<()> {
    for chunk in ids.chunks(1000) {
        diesel::delete(
            values::table.filter(values::entity.eq(entity.as_str())).filter(values::record_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// Of these unique `(key, value)` index values, those a record other than the one named holds:
/// `(position in the list, holder)`.
pub fn taken(
    conn: &mut DbConn,
    entity: CustomEntity,
    wanted: &[(Option<i64>, &IndexValue)],
) -> QueryResult<Vec<(usize, i64)>> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&str> = wanted.iter().map(|(_, v)| v.key.as_str()).collect();
    for key in keys {
        let of_key: Vec<(usize, Option<i64>, &str)> = wanted
            .iter()
            .enumerate()
            .filter(|(_, (_, v))| v.key == key)
            .map(|(i, (id, v))| (i, *id, v.value.as_str()))
            .collect();
        for chunk in of_key.chunks(1000) {
            let texts: Vec<&str> = chunk.iter().map(|(_, _, t)| *t).collect();
            let held: Vec<(String, i64)> = values::table
                .filter(values::entity.eq(entity.as_str()))
                .filter(values::field_key.eq(key))
                .filter(values::unique_value.eq_any(texts))
                .select((values::value, values::record_id))
                .load(conn)?;
            for (i, id, text) in chunk {
                if let Some((_, holder)) = held.iter().find(|(v, h)| v == text && Some(*h) != *id) {
                    out.push((*i, *holder));
                }
            }
        }
    }
    Ok(out)
}

/// How many records hold this option of the field.
pub fn option_uses(conn: &mut DbConn, entity: CustomEntity, key: &str, code: &str) -> QueryResult<i64> {
    values::table
        .filter(values::entity.eq(entity.as_str()))
        .filter(values::field_key.eq(key))
        .filter(values::value.eq(code))
        .count()
        .get_result(conn)
}

/// The live records of the entity that carry `key` in their custom fields, `(id, object)`,
/// a thousand after `after`.
fn holders(conn: &mut DbConn, entity: CustomEntity, key: &str, after: i64) -> QueryResult<Vec<(i64, String)>> {
    // The JSON object's text holds `"key":` wherever the key is used (keys are snake_case, so
    // the pattern needs no escaping).
    let pattern = format!("%\"{key}\":%");
    macro_rules! of {
        ($t:ident) => {
            $t::table
                .filter($t::id.gt(after))
                .filter($t::deleted_at.is_null())
                .filter($t::custom_fields.like(pattern))
                .order($t::id)
                .limit(1000)
                .select(($t::id, $t::custom_fields))
                .load(conn)
        };
    }
    match entity {
        CustomEntity::Client => of!(clients),
        CustomEntity::Contact => of!(contacts),
        CustomEntity::Deal => of!(deals),
    }
}

/// Rebuilds the index rows of one field from the records' values — after the field is defined
/// (values written before have none) or made unique. Values that do not fit the type stay on
/// the records, unindexed. Returns how many records hold the key.
pub fn reindex(conn: &mut DbConn, schema: &Schema, key: &str) -> QueryResult<usize> {
    let Some(entity) = schema.entity else { return Ok(0) };
    diesel::delete(values::table.filter(values::entity.eq(entity.as_str())).filter(values::field_key.eq(key)))
        .execute(conn)?;
    let only = Schema { entity: Some(entity), fields: schema.get(key).into_iter().cloned().collect() };
    let (mut after, mut seen) = (0i64, 0usize);
    loop {
        let batch = holders(conn, entity, key, after)?;
        let Some(last) = batch.last() else { return Ok(seen) };
        after = last.0;
        seen += batch.len();
        let rows: Vec<(i64, IndexValue)> = batch
            .iter()
            .flat_map(|(id, text)| {
                let map: Map<String, Value> = serde_json::from_str(text).unwrap_or_default();
                only.index(&map).into_iter().map(move |v| (*id, v))
            })
            .collect();
        insert_values(conn, entity, &rows)?;
    }
}
