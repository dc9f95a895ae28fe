//! Purchases (sales): what each client bought, when, for how much and with what margin. They
//! drive the segmentation and analytics; each write keeps the client's derived figures current.
//! Single writes and batches (`/sales/batch`, `/sync/sales`) go through one pipeline, [`apply`].

pub mod api;
pub mod service;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::batch::{ItemResult, ItemStatus};
use crate::db::schema::{clients, sales};
use crate::db::{now, Db, DbConn};
use crate::error::{ApiError, FieldError, FieldErrors};
use crate::events::{self, NewEvent};
use crate::pagination::{page_from, Cursor, KeyValue, Page};
use crate::versioning::AtReadVersion;
use crate::{external_ids, keyset, money, order_keyset, with_backend};

pub const ENTITY: &str = "sale";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sales)]
pub struct SaleRow {
    pub id: i64,
    pub client_id: i64,
    pub sold_on: NaiveDate,
    pub sold_month: i32,
    pub amount: i64,
    pub cost: Option<i64>,
    pub margin: Option<i64>,
    pub currency: String,
    pub document_number: Option<String>,
    pub channel: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A purchase.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Sale {
    pub id: i64,
    pub client_id: i64,
    pub sold_on: NaiveDate,
    /// A decimal amount; negative for returns.
    #[schema(example = "125000.00")]
    pub amount: String,
    pub cost: Option<String>,
    /// `amount − cost`.
    pub margin: Option<String>,
    pub currency: String,
    pub document_number: Option<String>,
    /// The client's channel when the sale was recorded.
    pub channel: Option<String>,
    /// One id per source system.
    pub external_ids: BTreeMap<String, String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Sale {
    fn from_row(r: SaleRow, external_ids: BTreeMap<String, String>) -> Sale {
        Sale {
            id: r.id,
            client_id: r.client_id,
            sold_on: r.sold_on,
            amount: money::format_minor(r.amount),
            cost: r.cost.map(money::format_minor),
            margin: r.margin.map(money::format_minor),
            currency: r.currency,
            document_number: r.document_number,
            channel: r.channel,
            external_ids,
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// A new purchase. Give `cost` or `margin` (or both, if they agree).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSale {
    pub client_id: i64,
    pub sold_on: NaiveDate,
    #[schema(example = "125000.00")]
    pub amount: String,
    pub cost: Option<String>,
    pub margin: Option<String>,
    /// Defaults to the base currency; other currencies are refused.
    pub currency: Option<String>,
    #[schema(max_length = 100)]
    pub document_number: Option<String>,
    #[serde(default)]
    pub external_ids: BTreeMap<String, String>,
}

/// One item of a sales batch: upserted by `external_id` within the batch's `source`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaleItem {
    /// The sale's id in the source system; without it the item is always created.
    pub external_id: Option<String>,
    /// The client, by id…
    pub client_id: Option<i64>,
    /// …or by its id in the same source system.
    pub client_external_id: Option<String>,
    pub sold_on: NaiveDate,
    pub amount: String,
    pub cost: Option<String>,
    pub margin: Option<String>,
    pub currency: Option<String>,
    pub document_number: Option<String>,
}

/// Changes to a purchase; only the fields sent change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalePatch {
    pub sold_on: Option<NaiveDate>,
    pub amount: Option<String>,
    pub cost: Option<String>,
    pub margin: Option<String>,
    pub document_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct SaleValues {
    client_id: i64,
    sold_on: NaiveDate,
    amount: i64,
    cost: Option<i64>,
    margin: Option<i64>,
    currency: String,
    document_number: Option<String>,
}

/// Where a sale's client is to be found.
#[derive(Debug, Clone)]
pub enum ClientRef {
    Id(i64),
    External(String),
}

/// A sale to write, before validation against the database.
#[derive(Debug, Clone)]
pub struct SaleDraft {
    pub index: usize,
    pub client: Option<ClientRef>,
    /// `(source, external id)` that identifies the sale for upserts.
    pub key: Option<(String, String)>,
    /// Further external ids (single creates only).
    pub external_ids: BTreeMap<String, String>,
    pub sold_on: NaiveDate,
    pub amount: String,
    pub cost: Option<String>,
    pub margin: Option<String>,
    pub currency: Option<String>,
    pub document_number: Option<String>,
}

impl SaleDraft {
    pub fn of_item(index: usize, item: SaleItem, source: Option<&str>) -> SaleDraft {
        let client = match (item.client_id, item.client_external_id) {
            (Some(id), _) => Some(ClientRef::Id(id)),
            (None, Some(ext)) => Some(ClientRef::External(ext)),
            (None, None) => None,
        };
        SaleDraft {
            index,
            client,
            key: source.zip(item.external_id).map(|(s, e)| (s.to_string(), e)),
            external_ids: BTreeMap::new(),
            sold_on: item.sold_on,
            amount: item.amount,
            cost: item.cost,
            margin: item.margin,
            currency: item.currency,
            document_number: item.document_number,
        }
    }

    pub fn of_new(input: NewSale) -> SaleDraft {
        SaleDraft {
            index: 0,
            client: Some(ClientRef::Id(input.client_id)),
            key: None,
            external_ids: input.external_ids,
            sold_on: input.sold_on,
            amount: input.amount,
            cost: input.cost,
            margin: input.margin,
            currency: input.currency,
            document_number: input.document_number,
        }
    }
}

/// `year * 12 + month - 1`, the calendar month index stored with each sale.
pub fn month_index(d: NaiveDate) -> i32 {
    d.year() * 12 + d.month0() as i32
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

fn values_of_row(r: &SaleRow) -> SaleValues {
    SaleValues {
        client_id: r.client_id,
        sold_on: r.sold_on,
        amount: r.amount,
        cost: r.cost,
        margin: r.margin,
        currency: r.currency.clone(),
        document_number: r.document_number.clone(),
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = sales, treat_none_as_null = true)]
struct SaleWrite<'a> {
    client_id: i64,
    sold_on: NaiveDate,
    sold_month: i32,
    amount: i64,
    cost: Option<i64>,
    margin: Option<i64>,
    currency: &'a str,
    document_number: Option<&'a str>,
    updated_at: NaiveDateTime,
}

impl SaleValues {
    fn write(&self, at: NaiveDateTime) -> SaleWrite<'_> {
        SaleWrite {
            client_id: self.client_id,
            sold_on: self.sold_on,
            sold_month: month_index(self.sold_on),
            amount: self.amount,
            cost: self.cost,
            margin: self.margin,
            currency: &self.currency,
            document_number: self.document_number.as_deref(),
            updated_at: at,
        }
    }
}

/// The clients a batch names: visible live ones with their channel, and the source's external
/// ids resolved to client ids.
struct ResolvedClients {
    visible: HashMap<i64, Option<String>>,
    by_external: HashMap<String, i64>,
}

/// Resolves the clients the drafts name, with two queries: live clients the actor may see, by id
/// and by the source's external id.
fn resolve_clients(
    conn: &mut DbConn,
    drafts: &[SaleDraft],
    source: Option<&str>,
    owner_only: Option<i64>,
) -> QueryResult<ResolvedClients> {
    let externals: Vec<&str> = drafts
        .iter()
        .filter_map(|d| match &d.client {
            Some(ClientRef::External(e)) => Some(e.as_str()),
            _ => None,
        })
        .collect();
    let by_external = match source {
        Some(s) if !externals.is_empty() => external_ids::holders(conn, crate::clients::repo::ENTITY, s, &externals)?,
        _ => HashMap::new(),
    };
    let mut ids: Vec<i64> = drafts
        .iter()
        .filter_map(|d| match &d.client {
            Some(ClientRef::Id(id)) => Some(*id),
            _ => None,
        })
        .collect();
    ids.extend(by_external.values().copied());
    let mut q = clients::table
        .filter(clients::id.eq_any(&ids))
        .filter(clients::deleted_at.is_null())
        .select((clients::id, clients::channel))
        .into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, owner_only);
    let visible: HashMap<i64, Option<String>> = q.load::<(i64, Option<String>)>(conn)?.into_iter().collect();
    Ok(ResolvedClients { visible, by_external })
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
    let ResolvedClients { visible, by_external } = resolve_clients(conn, &drafts, source, actor.own_clients_only())?;
    let keys: Vec<&str> = drafts.iter().filter_map(|d| d.key.as_ref().map(|(_, e)| e.as_str())).collect();
    let existing_ids = match source {
        Some(s) if !keys.is_empty() => external_ids::holders(conn, ENTITY, s, &keys)?,
        _ => HashMap::new(),
    };
    let existing: HashMap<i64, SaleRow> = sales::table
        .filter(sales::id.eq_any(existing_ids.values().copied().collect::<Vec<_>>()))
        .select(SaleRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();

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
            errors.check(!ext.trim().is_empty() && ext.len() <= 200, "external_id", "must be 1 to 200 characters");
            errors.check(seen_keys.insert(ext.clone()), "external_id", "appears twice in this batch");
        }
        for (s, e) in &d.external_ids {
            let ok = crate::batch::valid_source(s) && !e.trim().is_empty() && e.len() <= 200;
            errors.check(
                ok,
                format_args!("external_ids.{s}"),
                "source names and ids must be non-empty (50 and 200 characters at most)",
            );
        }
        let values = values_of(d, client_id.unwrap_or_default(), currency, &mut errors);
        let (Some(values), true) = (values, errors.is_empty()) else {
            results.push(ItemResult::error(d.index, errors_of(errors)));
            continue;
        };
        let current = d.key.as_ref().and_then(|(_, e)| existing_ids.get(e)).and_then(|id| existing.get(id));
        match current {
            Some(row) if values_of_row(row) == values => {
                results.push(ItemResult::ok(d.index, ItemStatus::Unchanged, row.id))
            }
            Some(row) => {
                diesel::update(sales::table.find(row.id))
                    .set((values.write(at), sales::version.eq(row.version + 1)))
                    .execute(conn)?;
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
                    results.push(ItemResult::error(d.index, errors_of(errors)));
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
    let rows: Vec<_> = ids
        .iter()
        .zip(&creates)
        .map(|(id, (_, values, channel))| {
            (
                sales::id.eq(*id),
                values.write(at),
                sales::channel.eq(channel.clone()),
                sales::version.eq(1i64),
                sales::created_at.eq(at),
            )
        })
        .collect();
    for chunk in rows.chunks(1000) {
        with_backend!(conn, |c| diesel::insert_into(sales::table).values(chunk).execute(c))?;
    }
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
    let written: HashMap<i64, Sale> = by_ids(conn, &ids)?.into_iter().map(|s| (s.id, s)).collect();
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

fn errors_of(errors: FieldErrors) -> Vec<FieldError> {
    match errors.into_result() {
        Err(ApiError::Validation(list)) => list,
        _ => Vec::new(),
    }
}

/// Sales with their external ids, in two queries.
pub fn by_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Sale>> {
    let rows: Vec<SaleRow> = sales::table.filter(sales::id.eq_any(ids)).select(SaleRow::as_select()).load(conn)?;
    let mut ext = external_ids::of(conn, ENTITY, ids)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let e = ext.remove(&r.id).unwrap_or_default();
            Sale::from_row(r, e)
        })
        .collect())
}

/// A sale of a live client the caller may see.
pub fn get(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<Sale, ApiError> {
    let mut q = sales::table
        .inner_join(clients::table)
        .filter(sales::id.eq(id))
        .filter(clients::deleted_at.is_null())
        .select(sales::id)
        .into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, owner_only);
    let id: i64 = q.first(conn)?;
    by_ids(conn, &[id])?.pop().ok_or(ApiError::NotFound)
}

#[derive(Debug, Default, Clone)]
pub struct SaleFilter {
    pub owner_only: Option<i64>,
    pub client_id: Option<i64>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub updated_since: Option<NaiveDateTime>,
}

/// Newest purchases first.
pub fn list(conn: &mut DbConn, f: &SaleFilter, cursor: Option<&str>, limit: i64) -> Result<Page<Sale>, ApiError> {
    const TAG: &str = "-sold_on";
    let mut q = sales::table
        .inner_join(clients::table)
        .filter(clients::deleted_at.is_null())
        .select(SaleRow::as_select())
        .into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, f.owner_only);
    if let Some(v) = f.client_id {
        q = q.filter(sales::client_id.eq(v));
    }
    if let Some(v) = f.from {
        q = q.filter(sales::sold_on.ge(v));
    }
    if let Some(v) = f.to {
        q = q.filter(sales::sold_on.le(v));
    }
    if let Some(v) = f.updated_since {
        q = q.filter(sales::updated_at.ge(v));
    }
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, TAG)?;
        let day = NaiveDate::parse_from_str(c.text()?, "%Y-%m-%d").map_err(|_| {
            ApiError::BadQuery(vec![FieldError { field: "cursor".into(), message: "is malformed".into() }])
        })?;
        q = keyset!(q, sales::sold_on, sales::id, day, c.id, true);
    }
    q = order_keyset!(q, sales::sold_on, sales::id, true);
    let rows: Vec<SaleRow> = q.limit(limit + 1).load(conn)?;
    let page =
        page_from(rows, limit, |r| Cursor { sort: TAG.into(), key: KeyValue::Text(r.sold_on.to_string()), id: r.id });
    let ids: Vec<i64> = page.items.iter().map(|r| r.id).collect();
    let mut ext = external_ids::of(conn, ENTITY, &ids)?;
    Ok(page.map(|r| {
        let e = ext.remove(&r.id).unwrap_or_default();
        Sale::from_row(r, e)
    }))
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: SalePatch,
    expected: Option<i64>,
    actor: &Caller,
    currency: &str,
) -> Result<Sale, ApiError> {
    let current = get(conn, id, actor.own_clients_only())?;
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
    let row: SaleRow = diesel::update(sales::table.filter(sales::id.eq(id)).filter(sales::version.eq(current.version)))
        .set((values.write(now()), sales::version.eq(current.version + 1)))
        .returning(sales::all_columns)
        .get_result(conn)
        .at_read_version()?;
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
    let current = get(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    external_ids::replace(conn, ENTITY, id, &BTreeMap::new())?;
    diesel::delete(sales::table.find(id)).execute(conn)?;
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
