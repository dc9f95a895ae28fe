//! Sales batches: parsed item by item, validated and applied in one transaction (or rolled back
//! for a dry run). Shared by `/sales/batch` and `/sync/sales`.

use serde::Deserialize;

use super::{SaleDraft, SaleItem};
use crate::auth::Caller;
use crate::batch::{self, BatchResult};
use crate::db::Pool;
use crate::error::ApiError;

/// Up to 1000 purchases. Items are parsed one by one, so a malformed item is reported alone.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesBatch {
    /// The system the items come from, e.g. `1c`; scopes `external_id` and `client_external_id`.
    pub source: Option<String>,
    #[schema(value_type = Vec<SaleItem>, max_items = 1000)]
    pub items: Vec<crate::batch::RawItem>,
}

/// Parses, validates and applies a sales batch (shared with `/sync/sales`).
pub async fn run_batch(
    pool: &Pool,
    currency: &str,
    body: SalesBatch,
    source_required: bool,
    dry_run: bool,
    caller: Caller,
) -> Result<BatchResult, ApiError> {
    let source = batch::check_batch(body.source.as_deref(), &body.items, source_required)?;
    // Changes made on behalf of a source system are tagged with it in the change feed.
    let caller = match &source {
        Some(s) => caller.via(s),
        None => caller,
    };
    let currency = currency.to_string();
    let (items, mut results) = batch::parse_items::<SaleItem>(body.items);
    let drafts: Vec<SaleDraft> =
        items.into_iter().map(|(i, item)| SaleDraft::of_item(i, item, source.as_deref())).collect();
    let applied =
        batch::run(pool, dry_run, move |conn| super::apply(conn, drafts, source.as_deref(), &caller, &currency))
            .await?;
    results.extend(applied);
    Ok(BatchResult::of(dry_run, results))
}
