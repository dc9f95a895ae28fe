//! Deal queries: one deal, lists and the stage history. Visibility is part of every query: a
//! manager reaches deals they own and deals of clients they own.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::model::{Deal, DealRow, DealStatus, StageChange, StageChangeRow};
use crate::db::schema::{clients, deal_stage_history, deals};
use crate::db::{Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{self, page_from, Cursor, KeyValue, Page, Sort};
use crate::{keyset, order_keyset};

pub const ENTITY: &str = "deal";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DealSort {
    Title,
    CreatedAt,
    UpdatedAt,
    Amount,
}

pub const DEAL_SORTS: &[(&str, DealSort)] = &[
    ("title", DealSort::Title),
    ("created_at", DealSort::CreatedAt),
    ("updated_at", DealSort::UpdatedAt),
    ("amount", DealSort::Amount),
];

#[derive(Debug, Default, Clone)]
pub struct DealFilter {
    pub owner_only: Option<i64>,
    pub pipeline_id: Option<i64>,
    pub stage_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub client_id: Option<i64>,
    pub status: Option<DealStatus>,
    pub amount_min: Option<i64>,
    pub amount_max: Option<i64>,
    pub expected_close_from: Option<NaiveDate>,
    pub expected_close_to: Option<NaiveDate>,
    pub updated_since: Option<chrono::NaiveDateTime>,
}

/// Live deals of live clients that `owner_only` (a manager) may see, as a boxed query.
macro_rules! visible_deals {
    ($owner_only:expr) => {{
        let mut q = deals::table
            .inner_join(clients::table)
            .filter(deals::deleted_at.is_null())
            .filter(clients::deleted_at.is_null())
            .select(deals::all_columns)
            .into_boxed::<Db>();
        if let Some(me) = $owner_only {
            q = q.filter(deals::owner_id.eq(me).or(crate::clients::visibility::owns(me)));
        }
        q
    }};
}

pub fn get_row(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<DealRow, ApiError> {
    Ok(visible_deals!(owner_only).filter(deals::id.eq(id)).first(conn)?)
}

pub fn list(
    conn: &mut DbConn,
    f: &DealFilter,
    sort: Sort<DealSort>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<Deal>, ApiError> {
    let tag = sort.tag(DEAL_SORTS);
    let mut q = visible_deals!(f.owner_only);
    if let Some(v) = f.pipeline_id {
        q = q.filter(deals::pipeline_id.eq(v));
    }
    if let Some(v) = f.stage_id {
        q = q.filter(deals::stage_id.eq(v));
    }
    if let Some(v) = f.owner_id {
        q = q.filter(deals::owner_id.eq(v));
    }
    if let Some(v) = f.client_id {
        q = q.filter(deals::client_id.eq(v));
    }
    if let Some(v) = f.status {
        q = q.filter(deals::status.eq(v.as_str()));
    }
    if let Some(v) = f.amount_min {
        q = q.filter(deals::amount.ge(v));
    }
    if let Some(v) = f.amount_max {
        q = q.filter(deals::amount.le(v));
    }
    if let Some(v) = f.expected_close_from {
        q = q.filter(deals::expected_close_date.ge(v));
    }
    if let Some(v) = f.expected_close_to {
        q = q.filter(deals::expected_close_date.le(v));
    }
    if let Some(v) = f.updated_since {
        q = q.filter(deals::updated_at.ge(v));
    }
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, &tag)?;
        q = match sort.field {
            DealSort::Title => keyset!(q, deals::title, deals::id, c.text()?.to_string(), c.id, sort.desc),
            DealSort::CreatedAt => keyset!(q, deals::created_at, deals::id, c.timestamp()?, c.id, sort.desc),
            DealSort::UpdatedAt => keyset!(q, deals::updated_at, deals::id, c.timestamp()?, c.id, sort.desc),
            DealSort::Amount => keyset!(q, deals::amount, deals::id, c.int()?, c.id, sort.desc),
        };
    }
    q = match sort.field {
        DealSort::Title => order_keyset!(q, deals::title, deals::id, sort.desc),
        DealSort::CreatedAt => order_keyset!(q, deals::created_at, deals::id, sort.desc),
        DealSort::UpdatedAt => order_keyset!(q, deals::updated_at, deals::id, sort.desc),
        DealSort::Amount => order_keyset!(q, deals::amount, deals::id, sort.desc),
    };
    let rows: Vec<DealRow> = q.limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor {
        sort: tag.clone(),
        key: match sort.field {
            DealSort::Title => KeyValue::Text(r.title.clone()),
            DealSort::CreatedAt => pagination::ts_key(r.created_at),
            DealSort::UpdatedAt => pagination::ts_key(r.updated_at),
            DealSort::Amount => KeyValue::Int(r.amount),
        },
        id: r.id,
    })
    .map(Deal::from))
}

pub fn history(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<Vec<StageChange>, ApiError> {
    get_row(conn, id, owner_only)?;
    let rows: Vec<StageChangeRow> = deal_stage_history::table
        .filter(deal_stage_history::deal_id.eq(id))
        .order((deal_stage_history::changed_at.asc(), deal_stage_history::id.asc()))
        .select(StageChangeRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(StageChange::from).collect())
}
