//! Keyset pagination: opaque cursors, the `limit` bounds, `sort=field|-field` and the list envelope.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// A page of a list. `next_cursor` is null on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null when there are no more items.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

/// Checks `limit` (1..=200, default 50).
pub fn limit(value: Option<i64>) -> Result<i64, ApiError> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::query("limit", format!("must be between 1 and {MAX_LIMIT}"))),
    }
}

/// The position after the last row of a page: the sort key's value and the row id (the
/// tie-breaker), tagged with the sort it belongs to so that it cannot be replayed on another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub sort: String,
    #[serde(rename = "k")]
    pub key: KeyValue,
    #[serde(rename = "i")]
    pub id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyValue {
    Int(i64),
    Text(String),
    Null,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes `raw` and checks it was issued for `sort`.
    pub fn decode(raw: &str, sort: &str) -> Result<Cursor, ApiError> {
        let invalid = || ApiError::query("cursor", "is not a cursor issued by this list; start again without it");
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.sort != sort {
            return Err(ApiError::query("cursor", "was issued for a different sort order"));
        }
        // A forged key is input like any other: no NUL (PostgreSQL text cannot hold one) and no
        // date either database cannot store.
        if let KeyValue::Text(key) = &cursor.key {
            if key.contains('\0') || crate::http::extract::date_out_of_range(key) {
                return Err(invalid());
            }
        }
        Ok(cursor)
    }

    pub fn text(&self) -> Result<&str, ApiError> {
        match &self.key {
            KeyValue::Text(s) => Ok(s),
            _ => Err(ApiError::query("cursor", "is malformed")),
        }
    }

    pub fn int(&self) -> Result<i64, ApiError> {
        match &self.key {
            KeyValue::Int(n) => Ok(*n),
            _ => Err(ApiError::query("cursor", "is malformed")),
        }
    }

    pub fn timestamp(&self) -> Result<NaiveDateTime, ApiError> {
        NaiveDateTime::parse_from_str(self.text()?, TS_FORMAT).map_err(|_| ApiError::query("cursor", "is malformed"))
    }
}

const TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f";

pub fn ts_key(ts: NaiveDateTime) -> KeyValue {
    KeyValue::Text(ts.format(TS_FORMAT).to_string())
}

/// A parsed `sort` parameter: the field and whether it is descending (`-field`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort<F> {
    pub field: F,
    pub desc: bool,
}

impl<F: Copy + PartialEq> Sort<F> {
    /// Parses `raw` against the allowed `(name, field)` pairs.
    pub fn parse(raw: Option<&str>, allowed: &[(&str, F)], default: Sort<F>) -> Result<Sort<F>, ApiError> {
        let Some(raw) = raw else { return Ok(default) };
        let (desc, name) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        allowed.iter().find(|(n, _)| *n == name).map(|(_, field)| Sort { field: *field, desc }).ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            ApiError::query("sort", format!("must be one of {} (prefix - for descending)", names.join(", ")))
        })
    }

    /// The JSON Schema pattern of the names `parse` accepts, e.g. `^-?(name|created_at)$`: the
    /// `sort` parameters declare it literally, and a test holds each to its list.
    #[cfg(test)]
    pub fn pattern(allowed: &[(&str, F)]) -> String {
        let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
        format!("^-?({})$", names.join("|"))
    }

    /// The name the cursor is tagged with, e.g. `-updated_at`.
    pub fn tag(&self, allowed: &[(&str, F)]) -> String {
        let name = allowed.iter().find(|(_, f)| *f == self.field).map_or("", |(n, _)| *n);
        if self.desc {
            format!("-{name}")
        } else {
            name.to_string()
        }
    }
}

/// Builds a page from `limit + 1` fetched rows: the extra row only tells there is a next page.
pub fn page_from<T>(mut rows: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> Cursor) -> Page<T> {
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if has_more { rows.last().map(|r| cursor_of(r).encode()) } else { None };
    Page { items: rows, next_cursor }
}

/// A page of a list already ranked in memory, tagged `sort`: it continues after the item `after`
/// names by id (empty once that item is gone), keeps the items `keep` accepts, and the cursor
/// names the last item shown.
pub fn page_in_memory<T>(
    items: Vec<T>,
    sort: &str,
    after: Option<i64>,
    limit: i64,
    id_of: impl Fn(&T) -> i64,
    keep: impl FnMut(&T) -> bool,
) -> Page<T> {
    let start = match after {
        Some(id) => items.iter().position(|item| id_of(item) == id).map_or(items.len(), |p| p + 1),
        None => 0,
    };
    let rows: Vec<T> = items.into_iter().skip(start).filter(keep).take(limit as usize + 1).collect();
    page_from(rows, limit, |item| Cursor { sort: sort.to_string(), key: KeyValue::Null, id: id_of(item) })
}

/// Adds the keyset condition for `(column, id)` after a cursor, ascending or descending.
#[macro_export]
macro_rules! keyset {
    ($query:expr, $column:expr, $id:expr, $value:expr, $last_id:expr, $desc:expr) => {{
        use diesel::prelude::*;
        let value = $value;
        let last_id = $last_id;
        if $desc {
            $query.filter($column.lt(value.clone()).or($column.eq(value).and($id.lt(last_id))))
        } else {
            $query.filter($column.gt(value.clone()).or($column.eq(value).and($id.gt(last_id))))
        }
    }};
}

/// Orders by `(column, id)` in one direction.
#[macro_export]
macro_rules! order_keyset {
    ($query:expr, $column:expr, $id:expr, $desc:expr) => {{
        use diesel::prelude::*;
        if $desc {
            $query.order(($column.desc(), $id.desc()))
        } else {
            $query.order(($column.asc(), $id.asc()))
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor { sort: "name".into(), key: KeyValue::Text("Ромашка".into()), id: 42 };
        assert_eq!(Cursor::decode(&c.encode(), "name").unwrap(), c);
        assert!(Cursor::decode(&c.encode(), "-name").is_err());
        assert!(Cursor::decode("!!!", "name").is_err());
        assert!(Cursor::decode("e30", "name").is_err());
    }

    #[test]
    fn limit_is_bounded() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(201)).is_err());
        assert_eq!(limit(Some(200)).unwrap(), 200);
    }

    #[test]
    fn in_memory_pages_continue_after_the_named_item() {
        let first = page_in_memory(vec![1, 2, 3, 4, 5], "n", None, 2, |n| *n, |n| *n != 2);
        assert_eq!(first.items, [1, 3]);
        let after = Cursor::decode(first.next_cursor.as_deref().unwrap(), "n").unwrap().id;
        let second = page_in_memory(vec![1, 2, 3, 4, 5], "n", Some(after), 2, |n| *n, |n| *n != 2);
        assert_eq!((second.items, second.next_cursor), (vec![4, 5], None));
        assert!(page_in_memory(vec![1, 2], "n", Some(9), 2, |n| *n, |_| true).items.is_empty());
    }

    #[test]
    fn sort_parses_direction() {
        let allowed = [("name", 1), ("created_at", 2)];
        let default = Sort { field: 1, desc: false };
        assert_eq!(Sort::parse(Some("-created_at"), &allowed, default).unwrap(), Sort { field: 2, desc: true });
        assert!(Sort::parse(Some("colour"), &allowed, default).is_err());
    }
}
