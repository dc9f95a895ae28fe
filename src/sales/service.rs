//! The sales pipeline: drafts validated (money, currency, client, external ids) and written in
//! bulk with their events and the clients' figures, for single writes and batches alike; the
//! batches themselves, parsed item by item, validated and applied in one transaction (or
//! rolled back for a dry run), shared by `/sales/batch` and `/sync/sales`; changes and deletions
//! of a purchase.

use std::collections::{BTreeMap, HashMap, HashSet};

pub use super::model::SalesBatch;
use super::model::{values_of_row, ClientRef, Sale, SaleDraft, SaleItem, SalePatch, SaleValues};
use super::repo::{self, ResolvedClients, ENTITY};
use crate::auth::Caller;
use crate::batch::{self, BatchResult, ItemResult, ItemStatus};
use crate::db::{now, DbConn, Pool};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent};
use crate::{external_ids, money};
use chrono::Datelike;

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
        batch::run(pool, dry_run, move |conn| apply(conn, drafts, source.as_deref(), &caller, &currency)).await?;
    results.extend(applied);
    Ok(BatchResult::of(dry_run, results))
}

fn parse_money(value: Option<&str>, field: &str, errors: &mut FieldErrors) -> Option<i64> {
    value.and_then(|v| money::parse_minor(v).map_err(|m| errors.add(field, m)).ok())
}

/// Validates the money of a draft: `margin = amount − cost`, given either way.
fn values_of(d: &SaleDraft, client_id: i64, base_currency: &str, errors: &mut FieldErrors) -> Option<SaleValues> {
    let amount = parse_money(Some(&d.amount), "amount", errors);
    let cost = parse_money(d.cost.as_deref(), "cost", errors);
    let margin = parse_money(d.margin.as_deref(), "margin", errors);
    let currency = d.currency.clone().unwrap_or_else(|| base_currency.to_string());
    errors.check(currency == base_currency, "currency", format_args!("sales are kept in {base_currency}"));
    let document_number = d.document_number.as_ref().map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    errors.check(
        document_number.as_ref().is_none_or(|n| n.chars().count() <= 100),
        "document_number",
        "must be at most 100 characters",
    );
    let year = d.sold_on.year();
    errors.check((1900..=2200).contains(&year), "sold_on", "must be a date between 1900 and 2200");
    let amount = amount?;
    let (cost, margin) = match (cost, margin) {
        (Some(c), Some(m)) if amount - c != m => {
            errors.add("margin", "must equal amount − cost; give only one of them");
            return None;
        }
        (Some(c), _) => (Some(c), Some(amount - c)),
        (None, Some(m)) => (Some(amount - m), Some(m)),
        (None, None) => (None, None),
    };
    errors.is_empty().then_some(SaleValues {
        client_id,
        sold_on: d.sold_on,
        amount,
        cost,
        margin,
        currency,
        document_number,
    })
}

/// Writes a batch of drafts: resolves clients and existing sales in bulk, creates, updates or
/// leaves each, records the events and refreshes the figures of every client touched.
pub fn apply(
    conn: &mut DbConn,
    drafts: Vec<SaleDraft>,
    source: Option<&str>,
    actor: &Caller,
    currency: &str,
) -> Result<Vec<ItemResult>, ApiError> {
    let ResolvedClients { visible, by_external } =
        repo::resolve_clients(conn, &drafts, source, actor.own_clients_only())?;
    let keys: Vec<&str> = drafts.iter().filter_map(|d| d.key.as_ref().map(|(_, e)| e.as_str())).collect();
    let existing_ids = match source {
        Some(s) if !keys.is_empty() => external_ids::holders(conn, ENTITY, s, &keys)?,
        _ => HashMap::new(),
    };
    let existing = repo::rows(conn, existing_ids.values().copied().collect::<Vec<_>>())?;

    // The further external ids the items carry, looked up once per source rather than per item.
    let mut claimed: HashMap<&str, Vec<&str>> = HashMap::new();
    for (s, e) in drafts.iter().flat_map(|d| &d.external_ids) {
        claimed.entry(s.as_str()).or_default().push(e.as_str());
    }
    let mut taken: HashSet<(String, String)> = HashSet::new();
    for (s, externals) in &claimed {
        taken.extend(external_ids::holders(conn, ENTITY, s, externals)?.into_keys().map(|e| (s.to_string(), e)));
    }

    let mut results = Vec::with_capacity(drafts.len());
    let mut seen_keys: HashSet<String> = HashSet::new();
    let mut new_ids: HashSet<(String, String)> = HashSet::new();
    let mut touched: HashSet<i64> = HashSet::new();
    let mut event_list: Vec<(&'static str, i64)> = Vec::new();
    let mut creates: Vec<(&SaleDraft, SaleValues, Option<String>)> = Vec::new();
    let at = now();
    for d in &drafts {
        let mut errors = FieldErrors::new();
        let client_id = match &d.client {
            None => {
                errors.add("client_id", "name the client by client_id or client_external_id");
                None
            }
            Some(ClientRef::Id(id)) => visible.contains_key(id).then_some(*id),
            Some(ClientRef::External(e)) => by_external.get(e).copied().filter(|id| visible.contains_key(id)),
        };
        if d.client.is_some() && client_id.is_none() {
            let field = match d.client {
                Some(ClientRef::External(_)) => "client_external_id",
                _ => "client_id",
            };
            errors.add(field, "no such client (not synced yet, deleted, or not yours)");
        }
        if let Some((_, ext)) = &d.key {
            errors.check(
                !ext.trim().is_empty() && ext.chars().count() <= 200,
                "external_id",
                "must be 1 to 200 characters",
            );
            errors.check(seen_keys.insert(ext.clone()), "external_id", "appears twice in this batch");
        }
        for (s, e) in &d.external_ids {
            let ok = crate::batch::valid_source(s) && !e.trim().is_empty() && e.chars().count() <= 200;
            errors.check(
                ok,
                format_args!("external_ids.{s}"),
                "source names and ids must be non-empty (50 and 200 characters at most)",
            );
        }
        let values = values_of(d, client_id.unwrap_or_default(), currency, &mut errors);
        let (Some(values), true) = (values, errors.is_empty()) else {
            results.push(ItemResult::error(d.index, errors.into_list()));
            continue;
        };
        let current = d.key.as_ref().and_then(|(_, e)| existing_ids.get(e)).and_then(|id| existing.get(id));
        match current {
            Some(row) if values_of_row(row) == values => {
                results.push(ItemResult::ok(d.index, ItemStatus::Unchanged, row.id))
            }
            Some(row) => {
                repo::rewrite(conn, row, &values, at)?;
                touched.extend([row.client_id, values.client_id]);
                event_list.push(("sale.updated", row.id));
                results.push(ItemResult::ok(d.index, ItemStatus::Updated, row.id));
            }
            None => {
                for (s, e) in &d.external_ids {
                    let pair = (s.clone(), e.clone());
                    if taken.contains(&pair) {
                        errors.add(format!("external_ids.{s}"), "is already used by another sale");
                    } else if new_ids.contains(&pair) {
                        errors.add(format!("external_ids.{s}"), "appears twice in this batch");
                    }
                }
                if !errors.is_empty() {
                    results.push(ItemResult::error(d.index, errors.into_list()));
                    continue;
                }
                new_ids.extend(d.external_ids.iter().map(|(s, e)| (s.clone(), e.clone())));
                let channel = visible.get(&values.client_id).cloned().flatten();
                touched.insert(values.client_id);
                creates.push((d, values, channel));
            }
        }
    }
    // New sales go in with one statement per thousand, their ids taken up front.
    let ids = crate::db::allocate_ids(conn, "sales", creates.len())?;
    repo::insert_many(conn, &ids, creates.iter().map(|(_, values, channel)| (values, channel)), at)?;
    let mut ext: Vec<(i64, &str, &str)> = Vec::new();
    for (id, (d, _, _)) in ids.iter().zip(&creates) {
        ext.extend(d.external_ids.iter().map(|(s, e)| (*id, s.as_str(), e.as_str())));
        if let Some((s, e)) = &d.key {
            ext.push((*id, s.as_str(), e.as_str()));
        }
        event_list.push(("sale.created", *id));
        results.push(ItemResult::ok(d.index, ItemStatus::Created, *id));
    }
    external_ids::insert(conn, ENTITY, &ext)?;
    let ids: Vec<i64> = event_list.iter().map(|(_, id)| *id).collect();
    let written: HashMap<i64, Sale> = repo::by_ids(conn, &ids)?.into_iter().map(|s| (s.id, s)).collect();
    let list = event_list
        .iter()
        .filter_map(|(t, id)| {
            written.get(id).map(|s| NewEvent {
                event_type: t,
                entity_type: ENTITY,
                entity_id: *id,
                payload: events::payload(s),
            })
        })
        .collect();
    events::record_many(conn, &actor.origin(), list)?;
    crate::clients::repo::refresh_figures(conn, &touched.into_iter().collect::<Vec<_>>())?;
    Ok(results)
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: SalePatch,
    expected: Option<i64>,
    actor: &Caller,
    currency: &str,
) -> Result<Sale, ApiError> {
    let current = repo::get(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    // A new cost or margin replaces the old pair; otherwise the margin follows the amount.
    let (cost, margin) = match (&patch.cost, &patch.margin) {
        (None, None) => (current.cost.clone(), None),
        (c, m) => (c.clone(), m.clone()),
    };
    let draft = SaleDraft {
        index: 0,
        client: Some(ClientRef::Id(current.client_id)),
        key: None,
        external_ids: BTreeMap::new(),
        sold_on: patch.sold_on.unwrap_or(current.sold_on),
        amount: patch.amount.unwrap_or(current.amount.clone()),
        cost,
        margin,
        currency: Some(current.currency.clone()),
        document_number: patch.document_number.or(current.document_number.clone()),
    };
    let mut errors = FieldErrors::new();
    let values = values_of(&draft, current.client_id, currency, &mut errors);
    errors.into_result()?;
    let values = values.ok_or_else(|| ApiError::internal("validated sale has no values"))?;
    let row = repo::update(conn, id, current.version, &values)?;
    let sale = Sale::from_row(row, current.external_ids.clone());
    events::record(
        conn,
        &actor.origin(),
        NewEvent { event_type: "sale.updated", entity_type: ENTITY, entity_id: id, payload: events::payload(&sale) },
    )?;
    crate::clients::repo::refresh_figures(conn, &[sale.client_id])?;
    Ok(sale)
}

/// Deletes a purchase (a correction); the event log keeps a tombstone.
pub fn delete(conn: &mut DbConn, id: i64, expected: Option<i64>, actor: &Caller) -> Result<(), ApiError> {
    let current = repo::get(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    repo::delete(conn, id)?;
    events::record(
        conn,
        &actor.origin(),
        NewEvent {
            event_type: "sale.deleted",
            entity_type: ENTITY,
            entity_id: id,
            payload: serde_json::json!({ "id": id, "client_id": current.client_id, "deleted_at": now().and_utc() })
                .to_string(),
        },
    )?;
    crate::clients::repo::refresh_figures(conn, &[current.client_id])?;
    Ok(())
}
