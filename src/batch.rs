//! The batch machinery shared by `/sales/batch`, `/sync/clients` and `/sync/sales`: up to 1000
//! items per request, each parsed and validated on its own so that a bad item is reported
//! without rejecting the good ones, all written in one transaction, with a result per item.
//! `dry_run=true` runs the same work and rolls it back.

use serde::de::DeserializeSeed;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use crate::db::{self, DbConn, Pool};
use crate::error::{ApiError, FieldError, FieldErrors};

pub const MAX_ITEMS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Created,
    Updated,
    Unchanged,
    Error,
}

/// What happened to one item of a batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemResult {
    /// Position of the item in the request.
    pub index: usize,
    pub status: ItemStatus,
    /// The record's id (also for `unchanged`); null on error.
    pub id: Option<i64>,
    /// For `error`: what is wrong, with field paths inside the item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl ItemResult {
    pub fn ok(index: usize, status: ItemStatus, id: i64) -> ItemResult {
        ItemResult { index, status, id: Some(id), errors: None }
    }

    pub fn error(index: usize, errors: Vec<FieldError>) -> ItemResult {
        ItemResult { index, status: ItemStatus::Error, id: None, errors: Some(errors) }
    }

    pub fn failed(index: usize, field: &str, message: impl Into<String>) -> ItemResult {
        ItemResult::error(index, vec![FieldError { field: field.into(), message: message.into() }])
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchResult {
    /// True when nothing was written.
    pub dry_run: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub errors: usize,
    /// One result per item, in request order.
    pub items: Vec<ItemResult>,
}

impl BatchResult {
    pub fn of(dry_run: bool, mut items: Vec<ItemResult>) -> BatchResult {
        items.sort_by_key(|r| r.index);
        let count = |s: ItemStatus| items.iter().filter(|r| r.status == s).count();
        BatchResult {
            dry_run,
            created: count(ItemStatus::Created),
            updated: count(ItemStatus::Updated),
            unchanged: count(ItemStatus::Unchanged),
            errors: count(ItemStatus::Error),
            items,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// Report what would change without writing anything.
    #[serde(default)]
    pub dry_run: bool,
}

/// Checks the batch size and a source name (letters, digits, `_`, `-`, `.`; up to 50).
pub fn check_batch<T>(source: Option<&str>, items: &[T], source_required: bool) -> Result<Option<String>, ApiError> {
    let mut errors = FieldErrors::new();
    errors.check(!items.is_empty(), "items", "must not be empty");
    errors.check(items.len() <= MAX_ITEMS, "items", format_args!("at most {MAX_ITEMS} items per batch"));
    let source = source.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    match &source {
        Some(s) => errors.check(valid_source(s), "source", "use up to 50 letters, digits, _, - or ."),
        None => errors.check(!source_required, "source", "is required: the name of the system the items come from"),
    }
    errors.into_result()?;
    Ok(source)
}

pub fn valid_source(s: &str) -> bool {
    !s.is_empty() && s.len() <= 50 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// One item of a batch as it came: kept as text by the body parser and read on its own, so a
/// bad item fails alone and no JSON tree is built in between.
pub type RawItem = Box<RawValue>;

/// Parses each raw item; a malformed one becomes an error result naming its fields.
pub fn parse_items<T: serde::de::DeserializeOwned>(items: Vec<RawItem>) -> (Vec<(usize, T)>, Vec<ItemResult>) {
    let mut ok = Vec::with_capacity(items.len());
    let mut failed = Vec::new();
    for (index, raw) in items.iter().enumerate() {
        match parse_item(index, raw, std::marker::PhantomData::<T>) {
            Ok(item) => ok.push((index, item)),
            Err(e) => failed.push(e),
        }
    }
    (ok, failed)
}

/// Reads one raw item with `seed`; a failure names the field it is in.
pub fn parse_item<'a, S: DeserializeSeed<'a>>(
    index: usize,
    raw: &'a RawValue,
    seed: S,
) -> Result<S::Value, ItemResult> {
    let mut track = serde_path_to_error::Track::new();
    let mut json = serde_json::Deserializer::from_str(raw.get());
    seed.deserialize(serde_path_to_error::Deserializer::new(&mut json, &mut track)).map_err(|e| {
        let path = track.path().to_string();
        let message = crate::http::extract::strip_position(&e.to_string());
        ItemResult::failed(index, &crate::http::extract::error_field(&path, &message, "item"), message)
    })
}

/// Runs `work` in one write transaction — rolled back when `dry_run`.
pub async fn run<F>(pool: &Pool, dry_run: bool, work: F) -> Result<Vec<ItemResult>, ApiError>
where
    F: FnOnce(&mut DbConn) -> Result<Vec<ItemResult>, ApiError> + Send + 'static,
{
    if dry_run {
        db::run(pool, move |conn| db::rolled_back_tx(conn, work)).await
    } else {
        db::run_tx(pool, work).await
    }
}
