//! The rules of custom field values, without the database: an entity's `custom_fields` object
//! checked and normalised against the definitions, values read from text (spreadsheet cells,
//! query strings), the rows a value puts in the index, and filters turned into index terms.

use chrono::{Datelike, NaiveDate};
use serde_json::{Map, Value};

use super::model::{CustomEntity, Definition, FieldTest, FieldTests, FieldType, Predicate, Range};
use crate::error::FieldErrors;
use crate::normalize::email::{looks_like_email, normalize_email};
use crate::normalize::phone::normalize_phone;

const MAX_TEXT: usize = 1000;
const MAX_URL: usize = 2000;
const MAX_CHOICES: usize = 50;
/// Whole numbers stay exact in the index's floating-point column up to 2^53.
const MAX_NUMBER: i64 = 1 << 53;

/// The definitions of one entity's fields, archived ones included.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub entity: Option<CustomEntity>,
    pub fields: Vec<Definition>,
}

/// One row of the value index.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexValue {
    pub key: String,
    pub value: String,
    pub number: Option<f64>,
    pub unique: bool,
}

impl Schema {
    pub fn get(&self, key: &str) -> Option<&Definition> {
        self.fields.iter().find(|d| d.key == key)
    }

    /// Checks and normalises the whole `custom_fields` object a write leaves on a record.
    /// `previous` is what the record holds (None for a new one): a value it already holds is
    /// kept as is, even under a key without a definition (written before definitions existed)
    /// or of an archived field, so that old data never blocks an unrelated change. Anything
    /// new must be a defined, live field of the right type. Required fields are checked when
    /// the object is new or changed. `null` removes a key. Errors name `custom_fields.<key>`.
    pub fn check(
        &self,
        map: &mut Map<String, Value>,
        previous: Option<&Map<String, Value>>,
        region: phonenumber::country::Id,
        errors: &mut FieldErrors,
    ) {
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let value = map.get(&key).cloned().unwrap_or(Value::Null);
            if previous.is_some_and(|p| p.get(&key) == Some(&value)) && !value.is_null() {
                continue;
            }
            let path = format!("custom_fields.{key}");
            let Some(def) = self.get(&key) else {
                if !value.is_null() {
                    errors.add(path, "is not a defined custom field (see /api/v1/custom-fields)");
                }
                map.remove(&key);
                continue;
            };
            if def.archived && !value.is_null() {
                errors.add(path, "is archived: its values can be kept or removed, not written");
                continue;
            }
            match normalise(def, &value, region) {
                Ok(Some(v)) => {
                    map.insert(key, v);
                }
                Ok(None) => {
                    map.remove(&key);
                }
                Err(message) => errors.add(path, message),
            }
        }
        if previous != Some(&*map) {
            for def in self.fields.iter().filter(|d| d.required && !d.archived) {
                errors.check(map.contains_key(&def.key), format_args!("custom_fields.{}", def.key), "is required");
            }
        }
    }

    /// The index rows of a record's values (keys without a live definition have none).
    pub fn index(&self, map: &Map<String, Value>) -> Vec<IndexValue> {
        let mut rows = Vec::new();
        for (key, value) in map {
            let Some(def) = self.get(key).filter(|d| !d.archived) else { continue };
            for (text, number) in index_terms(def.field_type, value) {
                rows.push(IndexValue { key: key.clone(), value: text, number, unique: def.unique });
            }
        }
        rows
    }

    /// Writes the values of the tests on phone fields in E.164 (those that read as numbers).
    pub fn phones_in_e164(&self, tests: &mut FieldTests, region: phonenumber::country::Id) {
        for (key, test) in tests.iter_mut() {
            if self.get(key).is_some_and(|d| d.field_type == FieldType::Phone) {
                for v in test.any_of.iter_mut().flatten() {
                    if let Ok(e164) = normalize_phone(v, region) {
                        *v = e164;
                    }
                }
            }
        }
    }

    /// A filter's tests as index terms; errors name `{prefix}.<key>` (the query parameter or
    /// the segment field).
    pub fn predicates(
        &self,
        tests: &FieldTests,
        prefix: &str,
        region: phonenumber::country::Id,
        errors: &mut FieldErrors,
    ) -> Vec<Predicate> {
        let mut out = Vec::new();
        for (key, test) in tests {
            let path = format!("{prefix}.{key}");
            let Some(def) = self.get(key).filter(|d| !d.archived) else {
                errors.add(path, "is not a defined custom field");
                continue;
            };
            if !def.filterable {
                errors.add(path, "is not filterable (set filterable on its definition)");
                continue;
            }
            match predicate(def, test, region) {
                Ok(p) => out.push(p),
                Err(message) => errors.add(path, message),
            }
        }
        out
    }
}

fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase().replace('ё', "е")
}

/// A value of `def` checked and normalised: `Ok(None)` clears it (null, an empty string or
/// list).
pub fn normalise(def: &Definition, value: &Value, region: phonenumber::country::Id) -> Result<Option<Value>, String> {
    let text = || match value {
        Value::String(s) => Ok(s.trim()),
        _ => Err("must be a string".to_string()),
    };
    if value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Ok(None);
    }
    let v = match def.field_type {
        FieldType::Text => {
            let s = text()?;
            if s.chars().count() > MAX_TEXT {
                return Err(format!("must be at most {MAX_TEXT} characters"));
            }
            Value::from(s)
        }
        FieldType::Number => match value.as_i64() {
            Some(n) if n.abs() <= MAX_NUMBER => Value::from(n),
            Some(_) => return Err(format!("must be between -{MAX_NUMBER} and {MAX_NUMBER}")),
            None => return Err("must be a whole number".into()),
        },
        FieldType::Decimal => {
            let raw = match value {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.trim().to_string(),
                _ => return Err("must be a decimal number (\"1250.50\")".into()),
            };
            Value::from(
                decimal(&raw)
                    .ok_or("must be a decimal number (\"1250.50\"), at most 15 digits before the point and 6 after")?,
            )
        }
        FieldType::Date => {
            let s = text()?;
            let d = date(s).ok_or("must be a date YYYY-MM-DD between the years 1000 and 9999")?;
            Value::from(d.format("%Y-%m-%d").to_string())
        }
        FieldType::Boolean => Value::from(value.as_bool().ok_or("must be true or false")?),
        FieldType::Select => {
            let s = text()?;
            live_option(def, s)?;
            Value::from(s)
        }
        FieldType::Multiselect => {
            let Value::Array(items) = value else { return Err("must be a list of option codes".into()) };
            let mut codes: Vec<String> = Vec::new();
            for item in items {
                let code = item.as_str().map(str::trim).ok_or("must be a list of option codes")?;
                live_option(def, code)?;
                if !codes.iter().any(|c| c == code) {
                    codes.push(code.to_string());
                }
            }
            if codes.len() > MAX_CHOICES {
                return Err(format!("at most {MAX_CHOICES} options"));
            }
            if codes.is_empty() {
                return Ok(None);
            }
            Value::from(codes)
        }
        FieldType::Url => {
            let s = text()?;
            let ok = s.len() <= MAX_URL
                && url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err("must be an http or https address".into());
            }
            Value::from(s)
        }
        FieldType::Email => {
            let e = normalize_email(text()?);
            if !looks_like_email(&e) {
                return Err("is not a valid email address".into());
            }
            Value::from(e)
        }
        FieldType::Phone => Value::from(normalize_phone(text()?, region)?),
    };
    Ok(Some(v))
}

fn live_option(def: &Definition, code: &str) -> Result<(), String> {
    match def.option(code) {
        Some(o) if !o.archived => Ok(()),
        Some(_) => Err(format!("option '{code}' is archived")),
        None => {
            let codes: Vec<&str> = def.options.iter().filter(|o| !o.archived).map(|o| o.code.as_str()).collect();
            Err(format!("'{code}' is not an option (one of: {})", codes.join(", ")))
        }
    }
}

/// `1250.50`, `-3`, `0,5` (a decimal comma) in canonical form: no leading zeros, no trailing
/// fractional zeros.
fn decimal(raw: &str) -> Option<String> {
    let raw = raw.replace(',', ".");
    let (sign, digits) = match raw.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", raw.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 15 || frac.len() > 6 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    let int = int.trim_start_matches('0');
    let frac = frac.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let sign = if int == "0" && frac.is_empty() { "" } else { sign };
    Some(if frac.is_empty() { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") })
}

/// `YYYY-MM-DD` or the Russian `DD.MM.YYYY`, years 1000 to 9999.
pub fn date(s: &str) -> Option<NaiveDate> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(s, "%d.%m.%Y")).ok()?;
    (1000..=9999).contains(&d.year()).then_some(d)
}

/// A value of `def` read from text — a spreadsheet cell, a query parameter — in the JSON form
/// [`normalise`] takes: numbers from digits (spaces and a decimal comma allowed), booleans from
/// yes/no words in Russian or English, options by code or label (a multiselect's separated by
/// `,` `;` or `|`).
pub fn from_text(def: &Definition, raw: &str) -> Result<Value, String> {
    let s = raw.trim();
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let option = |part: &str| {
        let part = part.trim();
        def.options
            .iter()
            .find(|o| o.code == part || fold(&o.label) == fold(part))
            .map_or_else(|| part.to_string(), |o| o.code.clone())
    };
    Ok(match def.field_type {
        FieldType::Number => {
            let n: f64 = compact.replace(',', ".").parse().map_err(|_| "must be a whole number".to_string())?;
            if n.fract() != 0.0 || !n.is_finite() || n.abs() > MAX_NUMBER as f64 {
                return Err("must be a whole number".into());
            }
            Value::from(n as i64)
        }
        FieldType::Decimal => Value::from(compact),
        FieldType::Boolean => match fold(s).as_str() {
            "да" | "yes" | "true" | "1" | "+" | "y" | "д" | "истина" => Value::from(true),
            "нет" | "no" | "false" | "0" | "-" | "n" | "н" | "ложь" => Value::from(false),
            "" => Value::Null,
            _ => return Err("must be yes or no (да/нет)".into()),
        },
        FieldType::Select => Value::from(option(s)),
        FieldType::Multiselect => {
            Value::from(s.split([',', ';', '|']).filter(|p| !p.trim().is_empty()).map(option).collect::<Vec<_>>())
        }
        _ => Value::from(s),
    })
}

/// A value as a spreadsheet cell's text: option codes of a multiselect joined by `, `.
pub fn cell_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(cell_text).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The index terms of a normalised value: comparable text and, for numbers, the number.
fn index_terms(t: FieldType, value: &Value) -> Vec<(String, Option<f64>)> {
    match (t, value) {
        (FieldType::Multiselect, Value::Array(items)) => {
            items.iter().filter_map(|v| v.as_str()).map(|s| (s.to_string(), None)).collect()
        }
        (FieldType::Number, Value::Number(n)) => vec![(n.to_string(), n.as_f64())],
        (FieldType::Decimal, Value::String(s)) => match decimal(s) {
            Some(d) => vec![(d.clone(), d.parse().ok())],
            None => Vec::new(),
        },
        (FieldType::Boolean, Value::Bool(b)) => vec![(b.to_string(), None)],
        (FieldType::Text | FieldType::Url | FieldType::Email, Value::String(s)) => vec![(fold(s), None)],
        (_, Value::String(s)) => vec![(s.clone(), None)],
        _ => Vec::new(),
    }
}

/// The index value a filter's text stands for, read and normalised like a written value.
fn term(def: &Definition, raw: &str, region: phonenumber::country::Id) -> Result<(String, Option<f64>), String> {
    let value = from_text(def, raw)?;
    let value = match def.field_type {
        // A test names one option: a multiselect's value is then the list of that one.
        FieldType::Multiselect => {
            let one = value.as_array().and_then(|a| a.first().cloned()).unwrap_or(Value::Null);
            normalise(&Definition { field_type: FieldType::Select, ..def.clone() }, &one, region)?
        }
        _ => normalise(def, &value, region)?,
    };
    let value = value.ok_or("needs a value")?;
    let t = if def.field_type == FieldType::Multiselect { FieldType::Select } else { def.field_type };
    index_terms(t, &value).into_iter().next().ok_or_else(|| "needs a value".to_string())
}

fn predicate(def: &Definition, test: &FieldTest, region: phonenumber::country::Id) -> Result<Predicate, String> {
    let mut values = Vec::new();
    for raw in test.any_of.iter().flatten() {
        values.push(term(def, raw, region)?.0);
    }
    let range = if test.gte.is_some() || test.lte.is_some() {
        if !def.field_type.is_ordered() {
            return Err("ranges (gte, lte) are for number, decimal and date fields".into());
        }
        let bound = |b: &Option<String>| b.as_deref().map(|raw| term(def, raw, region)).transpose();
        let (low, high) = (bound(&test.gte)?, bound(&test.lte)?);
        Some(if def.field_type == FieldType::Date {
            Range::Text(low.map(|l| l.0), high.map(|h| h.0))
        } else {
            Range::Number(low.and_then(|l| l.1), high.and_then(|h| h.1))
        })
    } else {
        None
    };
    if values.is_empty() && range.is_none() {
        return Err("needs a value, or gte / lte".into());
    }
    if values.len() > 100 {
        return Err("at most 100 values".into());
    }
    Ok(Predicate { key: def.key.clone(), values, range })
}

/// Filters of a query string: `cf.<key>=v` (repeated: any of), `cf.<key>.gte=`, `cf.<key>.lte=`.
/// Returns the tests, or the parameter that is not one of these forms.
pub fn tests_from_query(pairs: &[(String, String)]) -> Result<FieldTests, String> {
    let mut tests = FieldTests::new();
    for (name, value) in pairs {
        let Some(rest) = name.strip_prefix("cf.") else { continue };
        let (key, op) = match rest.rsplit_once('.') {
            Some((key, op)) if op == "gte" || op == "lte" => (key, op),
            _ => (rest, "eq"),
        };
        if key.is_empty() || key.contains('.') {
            return Err(name.clone());
        }
        let test = tests.entry(key.to_string()).or_default();
        match op {
            "gte" => test.gte = Some(value.clone()),
            "lte" => test.lte = Some(value.clone()),
            _ => test.any_of.get_or_insert_with(Vec::new).push(value.clone()),
        }
    }
    Ok(tests)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custom_fields::model::FieldOption;

    fn def(key: &str, t: FieldType) -> Definition {
        Definition {
            id: 1,
            entity: CustomEntity::Client,
            key: key.into(),
            label: key.replace('_', " "),
            field_type: t,
            options: vec![
                FieldOption { code: "gold".into(), label: "Золото".into(), archived: false },
                FieldOption { code: "old".into(), label: "Old".into(), archived: true },
            ],
            required: false,
            unique: false,
            filterable: true,
            archived: false,
            version: 1,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn schema() -> Schema {
        let mut req = def("contract_no", FieldType::Text);
        req.required = true;
        let mut gone = def("legacy", FieldType::Text);
        gone.archived = true;
        Schema {
            entity: Some(CustomEntity::Client),
            fields: vec![
                req,
                gone,
                def("employees", FieldType::Number),
                def("credit", FieldType::Decimal),
                def("since", FieldType::Date),
                def("vip", FieldType::Boolean),
                def("tier", FieldType::Select),
                def("lines", FieldType::Multiselect),
                def("site", FieldType::Url),
                def("billing", FieldType::Email),
                def("hotline", FieldType::Phone),
            ],
        }
    }

    const RU: phonenumber::country::Id = phonenumber::country::Id::RU;

    fn checked(map: Value, previous: Option<Value>) -> (Map<String, Value>, Vec<String>) {
        let mut map = map.as_object().cloned().unwrap();
        let previous = previous.map(|p| p.as_object().cloned().unwrap());
        let mut errors = FieldErrors::new();
        schema().check(&mut map, previous.as_ref(), RU, &mut errors);
        (map, errors.into_list().into_iter().map(|e| e.field).collect())
    }

    #[test]
    fn values_are_normalised_by_type() {
        let (map, errors) = checked(
            serde_json::json!({
                "contract_no": " Д-17 ", "employees": 40, "credit": "0012,50", "since": "01.02.2024",
                "vip": true, "tier": "gold", "lines": ["gold", "gold"], "site": "https://x.ru/a",
                "billing": "Buh@X.RU", "hotline": "8 (495) 123-45-67"
            }),
            None,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(map["contract_no"], "Д-17");
        assert_eq!(map["credit"], "12.5");
        assert_eq!(map["since"], "2024-02-01");
        assert_eq!(map["lines"], serde_json::json!(["gold"]));
        assert_eq!(map["billing"], "buh@x.ru");
        assert_eq!(map["hotline"], "+74951234567");
    }

    #[test]
    fn wrong_values_undefined_keys_and_missing_required_fields_are_named() {
        let (_, errors) = checked(
            serde_json::json!({
                "employees": 4.5, "credit": "1e3", "since": "0999-01-01", "vip": "yes", "tier": "old",
                "lines": ["silver"], "site": "ftp://x.ru", "billing": "nope", "hotline": "12",
                "nobody": 1, "legacy": "x"
            }),
            None,
        );
        let mut expected: Vec<String> = [
            "employees",
            "credit",
            "since",
            "vip",
            "tier",
            "lines",
            "site",
            "billing",
            "hotline",
            "nobody",
            "legacy",
            "contract_no",
        ]
        .iter()
        .map(|k| format!("custom_fields.{k}"))
        .collect();
        let mut got = errors;
        got.sort();
        expected.sort();
        assert_eq!(got, expected);
    }

    #[test]
    fn values_already_held_stay_even_without_a_definition() {
        let before = serde_json::json!({ "contract_no": "1", "nobody": "old", "legacy": "x" });
        let (map, errors) = checked(before.clone(), Some(before.clone()));
        assert!(errors.is_empty());
        assert_eq!(Value::Object(map), before);
        // Changing the undefined value is a new write of an undefined key.
        let (_, errors) = checked(serde_json::json!({ "contract_no": "1", "nobody": "new" }), Some(before));
        assert_eq!(errors, vec!["custom_fields.nobody"]);
        // Null removes a value, even an undefined one, and a required one cannot go.
        let (map, errors) = checked(serde_json::json!({ "contract_no": null, "nobody": null }), None);
        assert!(map.is_empty());
        assert_eq!(errors, vec!["custom_fields.contract_no"]);
    }

    #[test]
    fn text_cells_and_query_values_read_as_typed_values() {
        let s = schema();
        assert_eq!(from_text(s.get("employees").unwrap(), "1 200").unwrap(), 1200);
        assert!(from_text(s.get("employees").unwrap(), "1,5").is_err());
        assert_eq!(from_text(s.get("vip").unwrap(), "Да").unwrap(), true);
        assert_eq!(from_text(s.get("tier").unwrap(), "золото").unwrap(), "gold");
        assert_eq!(from_text(s.get("lines").unwrap(), "Золото; old").unwrap(), serde_json::json!(["gold", "old"]));
        let pairs: Vec<(String, String)> = [("cf.tier", "gold"), ("cf.tier", "Золото"), ("cf.since.gte", "2024-01-01")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let tests = tests_from_query(&pairs).unwrap();
        let mut errors = FieldErrors::new();
        let p = s.predicates(&tests, "cf", RU, &mut errors);
        assert!(errors.is_empty());
        assert_eq!(p[0].range, Some(Range::Text(Some("2024-01-01".into()), None)));
        assert_eq!(p[1].values, vec!["gold", "gold"]);
        let bad = tests_from_query(&[("cf.vip.gte".into(), "1".into())]).unwrap();
        s.predicates(&bad, "cf", RU, &mut errors);
        assert_eq!(errors.into_list()[0].field, "cf.vip");
    }

    #[test]
    fn decimals_have_one_canonical_form() {
        assert_eq!(decimal("0012.500").as_deref(), Some("12.5"));
        assert_eq!(decimal("-0.0").as_deref(), Some("0"));
        assert_eq!(decimal("12.").as_deref(), Some("12"));
        assert_eq!(decimal("."), None);
        assert_eq!(decimal("1234567890123456"), None);
    }
}
