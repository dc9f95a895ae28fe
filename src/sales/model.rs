//! Sales' types: the stored row, the purchase as the API shows it, its inputs (single, batch
//! and batch item, patch), the draft every write goes through with its validated values and
//! their row form, the month index and the list filter.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::sales;
use crate::money;

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
    pub(crate) fn from_row(r: SaleRow, external_ids: BTreeMap<String, String>) -> Sale {
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
    /// A day between 1900 and 2200.
    #[schema(pattern = "^(19[0-9]{2}|2[01][0-9]{2}|2200)-")]
    pub sold_on: NaiveDate,
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$", example = "125000.00")]
    pub amount: String,
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub cost: Option<String>,
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub margin: Option<String>,
    /// Defaults to the base currency; other currencies are refused.
    pub currency: Option<String>,
    #[schema(max_length = 100)]
    pub document_number: Option<String>,
    #[serde(default)]
    #[schema(schema_with = external_ids_schema)]
    pub external_ids: BTreeMap<String, String>,
}

/// Ids of the sale in other systems: by source name (letters, digits, `_`, `-`, `.`; up to 50),
/// an id of 1 to 200 characters, not blank.
fn external_ids_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let name = ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[A-Za-z0-9_.-]{1,50}$"));
    crate::external_ids::schema(name).build()
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
    /// A day between 1900 and 2200.
    #[schema(pattern = "^(19[0-9]{2}|2[01][0-9]{2}|2200)-")]
    pub sold_on: NaiveDate,
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub amount: String,
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub cost: Option<String>,
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub margin: Option<String>,
    pub currency: Option<String>,
    pub document_number: Option<String>,
}

/// Up to 1000 purchases. Items are parsed one by one, so a malformed item is reported alone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalesBatch {
    /// The system the items come from, e.g. `1c`; scopes `external_id` and `client_external_id`.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,50}$")]
    pub source: Option<String>,
    #[schema(value_type = Vec<SaleItem>, min_items = 1, max_items = 1000)]
    pub items: Vec<crate::batch::RawItem>,
}

/// Changes to a purchase; only the fields sent change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SalePatch {
    /// A day between 1900 and 2200.
    #[schema(pattern = "^(19[0-9]{2}|2[01][0-9]{2}|2200)-")]
    pub sold_on: Option<NaiveDate>,
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub amount: Option<String>,
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub cost: Option<String>,
    #[schema(pattern = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub margin: Option<String>,
    #[schema(max_length = 100)]
    pub document_number: Option<String>,
}

/// A sale's validated values, as compared with the stored row and written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SaleValues {
    pub client_id: i64,
    pub sold_on: NaiveDate,
    pub amount: i64,
    pub cost: Option<i64>,
    pub margin: Option<i64>,
    pub currency: String,
    pub document_number: Option<String>,
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

/// The values a stored sale holds, to compare a draft's with.
pub(crate) fn values_of_row(r: &SaleRow) -> SaleValues {
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

/// A sale's columns as written: a whole new row, or set over an existing one.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = sales, treat_none_as_null = true)]
pub(crate) struct SaleWrite<'a> {
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
    pub(crate) fn write(&self, at: NaiveDateTime) -> SaleWrite<'_> {
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

/// What a list of sales is limited to.
#[derive(Debug, Default, Clone)]
pub struct SaleFilter {
    pub owner_only: Option<i64>,
    pub client_id: Option<i64>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub updated_since: Option<NaiveDateTime>,
}
