//! The rules of custom field definitions — keys, types, options in use, uniqueness over the
//! values already written — and the unique check the entities run before a write.

use std::collections::HashMap;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::QueryResult;
use serde_json::{Map, Value};

use super::model::{Definition, DefinitionPatch, FieldOption, NewDefinition};
use super::repo;
use super::values::{IndexValue, Schema};
use crate::db::DbConn;
use crate::error::{ApiError, FieldErrors};

const MAX_OPTIONS: usize = 500;

fn is_code(s: &str, max: usize) -> bool {
    s.len() <= max
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_label(label: &str, field: &str, errors: &mut FieldErrors) {
    let n = label.chars().count();
    errors.check((1..=200).contains(&n), field, "must be 1 to 200 characters");
}

fn check_options(d: &Definition, errors: &mut FieldErrors) {
    if !d.field_type.has_options() {
        errors.check(d.options.is_empty(), "options", "only select and multiselect fields have options");
        return;
    }
    errors.check(!d.options.is_empty(), "options", "a select field needs at least one option");
    errors.check(d.options.len() <= MAX_OPTIONS, "options", format_args!("at most {MAX_OPTIONS} options"));
    for (i, o) in d.options.iter().enumerate() {
        errors.check(
            is_code(&o.code, 50),
            format_args!("options[{i}].code"),
            "a lowercase latin letter, then letters, digits and _ (at most 50)",
        );
        check_label(&o.label, &format!("options[{i}].label"), errors);
        errors.check(
            d.options[..i].iter().all(|p| p.code != o.code),
            format_args!("options[{i}].code"),
            "appears twice",
        );
    }
}

fn check_unique_type(d: &Definition, errors: &mut FieldErrors) {
    if d.unique {
        errors.check(
            d.field_type.can_be_unique(),
            "unique",
            format_args!("a {} field cannot be unique", d.field_type.as_str()),
        );
    }
}

fn trimmed(options: Vec<FieldOption>) -> Vec<FieldOption> {
    options
        .into_iter()
        .map(|o| FieldOption { code: o.code.trim().to_string(), label: o.label.trim().to_string(), ..o })
        .collect()
}

/// Rebuilds the field's index; values already repeating on records make a unique field fail.
fn reindex(conn: &mut DbConn, schema: &Schema, key: &str) -> Result<(), ApiError> {
    match repo::reindex(conn, schema, key) {
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Err(ApiError::field(
            "unique",
            "records already share values of this field: make them distinct before making it unique",
        )),
        other => Ok(other.map(|_| ())?),
    }
}

pub fn create(conn: &mut DbConn, mut input: NewDefinition) -> Result<Definition, ApiError> {
    input.key = input.key.trim().to_string();
    input.label = input.label.trim().to_string();
    input.options = trimmed(input.options);
    let mut errors = FieldErrors::new();
    errors.check(
        is_code(&input.key, 50),
        "key",
        "snake_case: a lowercase latin letter, then letters, digits and _ (at most 50)",
    );
    check_label(&input.label, "label", &mut errors);
    let draft = Definition {
        id: 0,
        entity: input.entity,
        key: input.key.clone(),
        label: input.label.clone(),
        field_type: input.field_type,
        options: input.options.clone(),
        required: input.required,
        unique: input.unique,
        filterable: input.filterable,
        archived: false,
        version: 1,
        created_at: chrono::Utc::now(),
        updated_at: chrono::Utc::now(),
    };
    check_options(&draft, &mut errors);
    check_unique_type(&draft, &mut errors);
    errors.into_result()?;
    let created = repo::insert(conn, &input)?;
    // Records may hold the key already (written before definitions existed).
    let schema = repo::schema(conn, created.entity)?;
    reindex(conn, &schema, &created.key)?;
    Ok(created)
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: DefinitionPatch,
    expected_version: Option<i64>,
) -> Result<Definition, ApiError> {
    let current = repo::get(conn, id)?;
    crate::versioning::expect(expected_version, current.version)?;
    let mut next = current.clone();
    let mut errors = FieldErrors::new();
    if let Some(label) = patch.label {
        next.label = label.trim().to_string();
        check_label(&next.label, "label", &mut errors);
    }
    if let Some(options) = patch.options {
        next.options = trimmed(options);
        for gone in current.options.iter().filter(|o| next.option(&o.code).is_none()) {
            let uses = repo::option_uses(conn, current.entity, &current.key, &gone.code)?;
            errors.check(
                uses == 0,
                "options",
                format_args!("option '{}' is held by {uses} records: archive it instead of removing it", gone.code),
            );
        }
        check_options(&next, &mut errors);
    }
    next.required = patch.required.unwrap_or(next.required);
    next.unique = patch.unique.unwrap_or(next.unique);
    next.filterable = patch.filterable.unwrap_or(next.filterable);
    next.archived = patch.archived.unwrap_or(next.archived);
    check_unique_type(&next, &mut errors);
    errors.into_result()?;
    if next == current {
        return Ok(current);
    }
    let updated = repo::update(conn, &next)?;
    if updated.unique != current.unique || updated.archived != current.archived {
        let schema = repo::schema(conn, updated.entity)?;
        reindex(conn, &schema, &updated.key)?;
    }
    Ok(updated)
}

/// The records of a write (`(id, custom fields)`, no id for a new one) whose unique values
/// another record holds, or an earlier record of the same write: `(position, field path,
/// message)`.
pub fn unique_conflicts(
    conn: &mut DbConn,
    schema: &Schema,
    records: &[(Option<i64>, &Map<String, Value>)],
) -> QueryResult<Vec<(usize, String, String)>> {
    let Some(entity) = schema.entity else { return Ok(Vec::new()) };
    if !schema.fields.iter().any(|d| d.unique) {
        return Ok(Vec::new());
    }
    let wanted: Vec<(usize, Option<i64>, IndexValue)> = records
        .iter()
        .enumerate()
        .flat_map(|(i, (id, map))| schema.index(map).into_iter().filter(|v| v.unique).map(move |v| (i, *id, v)))
        .collect();
    let mut out = Vec::new();
    let mut first: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, _, v) in &wanted {
        if let Some(earlier) = first.insert((v.key.as_str(), v.value.as_str()), *i) {
            if earlier != *i {
                out.push((
                    *i,
                    format!("custom_fields.{}", v.key),
                    "repeats the value of another record of this batch".into(),
                ));
            }
        }
    }
    let pairs: Vec<(Option<i64>, &IndexValue)> = wanted.iter().map(|(_, id, v)| (*id, v)).collect();
    for (at, holder) in repo::taken(conn, entity, &pairs)? {
        let (i, _, v) = &wanted[at];
        out.push((*i, format!("custom_fields.{}", v.key), format!("is already held by {} {holder}", entity.as_str())));
    }
    Ok(out)
}

/// Checks one record's custom fields (see [`Schema::check`]) and that its unique values are
/// free; `id` is the record's own, `None` for a new one.
pub fn check_record(
    conn: &mut DbConn,
    schema: &Schema,
    id: Option<i64>,
    map: &mut Map<String, Value>,
    previous: Option<&Map<String, Value>>,
    region: phonenumber::country::Id,
    errors: &mut FieldErrors,
) -> QueryResult<()> {
    schema.check(map, previous, region, errors);
    for (_, field, message) in unique_conflicts(conn, schema, &[(id, &*map)])? {
        errors.add(field, message);
    }
    Ok(())
}

/// The `cf.…` filters of a list's query string as index predicates on the entity's fields;
/// a bad one is a 400 naming its parameter.
pub fn query_predicates(
    conn: &mut DbConn,
    entity: super::CustomEntity,
    pairs: &[(String, String)],
    region: phonenumber::country::Id,
) -> Result<Vec<super::Predicate>, ApiError> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let tests = super::values::tests_from_query(pairs)
        .map_err(|name| ApiError::query(name, "custom field filters are cf.<key>, cf.<key>.gte and cf.<key>.lte"))?;
    let schema = repo::schema(conn, entity)?;
    let mut errors = FieldErrors::new();
    let predicates = schema.predicates(&tests, "cf", region, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::BadQuery(errors.into_list()));
    }
    Ok(predicates)
}
