//! What the conditions judge, read in bulk: per client its card figures, last contact and
//! since when it is lost; per deal its stage and since when it is there; per contact person its
//! birthday. A query per kind of fact for a whole run, never one per subject.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::max;
use diesel::prelude::*;

use crate::db::schema::{
    activities, client_status_history, clients, contacts, deal_stage_history, deals, pipeline_stages, sales, users,
};
use crate::db::{Db, DbConn};

#[derive(Debug, Clone)]
pub struct ClientFacts {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub owner_id: Option<i64>,
    pub last_purchase_on: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
    pub margin_total: i64,
    pub revenue_total: i64,
    /// The last activity, when it was asked for.
    pub last_contact: Option<NaiveDateTime>,
    /// When it last became lost, when it was asked for.
    pub lost_since: Option<NaiveDateTime>,
}

type ClientCols = (i64, String, String, Option<i64>, Option<NaiveDate>, NaiveDateTime, i64, i64);

/// The live clients (all of them, or those of `ids`), with the optional facts asked for.
pub fn clients(
    conn: &mut DbConn,
    ids: Option<&[i64]>,
    last_contact_until: Option<NaiveDateTime>,
    lost_since: bool,
) -> QueryResult<HashMap<i64, ClientFacts>> {
    let select = (
        clients::id,
        clients::name,
        clients::status,
        clients::owner_id,
        clients::last_purchase_on,
        clients::created_at,
        clients::margin_total,
        clients::revenue_total,
    );
    let rows: Vec<ClientCols> = in_chunks(ids, |chunk| {
        let mut q = clients::table
            .filter(clients::deleted_at.is_null())
            .filter(crate::clients::repo::is_client())
            .select(select)
            .into_boxed::<Db>();
        if let Some(chunk) = chunk {
            q = q.filter(clients::id.eq_any(chunk.to_vec()));
        }
        q.load(conn)
    })?;
    let mut out: HashMap<i64, ClientFacts> = rows
        .into_iter()
        .map(|(id, name, status, owner_id, last_purchase_on, created_at, margin_total, revenue_total)| {
            let facts = ClientFacts {
                id,
                name,
                status,
                owner_id,
                last_purchase_on,
                created_at,
                margin_total,
                revenue_total,
                last_contact: None,
                lost_since: None,
            };
            (id, facts)
        })
        .collect();
    if let Some(until) = last_contact_until {
        for (id, at) in last_contacts(conn, ids, until)? {
            if let (Some(c), Some(at)) = (out.get_mut(&id), at) {
                c.last_contact = Some(at);
            }
        }
    }
    if lost_since {
        for (id, at) in lost_dates(conn, ids)? {
            if let (Some(c), Some(at)) = (out.get_mut(&id), at) {
                c.lost_since = Some(at);
            }
        }
    }
    Ok(out)
}

/// `query` over every row (`ids` absent) or over `ids` a thousand at a time.
fn in_chunks<T>(
    ids: Option<&[i64]>,
    mut query: impl FnMut(Option<&[i64]>) -> QueryResult<Vec<T>>,
) -> QueryResult<Vec<T>> {
    match ids {
        None => query(None),
        Some(ids) => {
            let mut out = Vec::new();
            for chunk in ids.chunks(1000) {
                out.extend(query(Some(chunk))?);
            }
            Ok(out)
        }
    }
}

type Dated = (i64, Option<NaiveDateTime>);

fn last_contacts(conn: &mut DbConn, ids: Option<&[i64]>, until: NaiveDateTime) -> QueryResult<Vec<Dated>> {
    in_chunks(ids, |chunk| {
        let mut q = activities::table
            .filter(activities::deleted_at.is_null())
            .filter(activities::occurred_at.le(until))
            .group_by(activities::client_id)
            .select((activities::client_id, max(activities::occurred_at)))
            .into_boxed::<Db>();
        if let Some(chunk) = chunk {
            q = q.filter(activities::client_id.eq_any(chunk.to_vec()));
        }
        q.load::<Dated>(conn)
    })
}

fn lost_dates(conn: &mut DbConn, ids: Option<&[i64]>) -> QueryResult<Vec<Dated>> {
    in_chunks(ids, |chunk| {
        let mut q = client_status_history::table
            .filter(client_status_history::to_status.eq("lost"))
            .group_by(client_status_history::client_id)
            .select((client_status_history::client_id, max(client_status_history::changed_at)))
            .into_boxed::<Db>();
        if let Some(chunk) = chunk {
            q = q.filter(client_status_history::client_id.eq_any(chunk.to_vec()));
        }
        q.load::<Dated>(conn)
    })
}

#[derive(Debug, Clone)]
pub struct DealFacts {
    pub id: i64,
    pub client_id: i64,
    pub pipeline_id: i64,
    pub stage_id: i64,
    pub title: String,
    pub amount: i64,
    pub owner_id: Option<i64>,
    pub stage_name: String,
    pub stage_kind: String,
    /// When it entered its current stage (its creation when the history does not say).
    pub entered_stage_at: NaiveDateTime,
}

type DealCols = (i64, i64, i64, i64, String, i64, Option<i64>, NaiveDateTime, String, String);

/// Live deals: the open ones (or all, `open_only` false), or those of `ids`.
pub fn deals(conn: &mut DbConn, ids: Option<&[i64]>, open_only: bool) -> QueryResult<Vec<DealFacts>> {
    let query = || {
        let mut q = deals::table
            .inner_join(pipeline_stages::table.on(pipeline_stages::id.eq(deals::stage_id)))
            .inner_join(clients::table.on(clients::id.eq(deals::client_id)))
            .filter(deals::deleted_at.is_null())
            .filter(clients::deleted_at.is_null())
            .select((
                deals::id,
                deals::client_id,
                deals::pipeline_id,
                deals::stage_id,
                deals::title,
                deals::amount,
                deals::owner_id,
                deals::created_at,
                pipeline_stages::name,
                pipeline_stages::kind,
            ))
            .into_boxed::<Db>();
        if open_only {
            q = q.filter(deals::status.eq("open"));
        }
        q
    };
    let rows: Vec<DealCols> = match ids {
        None => query().order(deals::id.asc()).load(conn)?,
        Some(ids) => {
            let mut out = Vec::new();
            for chunk in ids.chunks(1000) {
                out.extend(query().filter(deals::id.eq_any(chunk)).load::<DealCols>(conn)?);
            }
            out
        }
    };
    let mut entered: HashMap<(i64, i64), NaiveDateTime> = HashMap::new();
    let deal_ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    for chunk in deal_ids.chunks(1000) {
        let moves: Vec<(i64, i64, Option<NaiveDateTime>)> = deal_stage_history::table
            .filter(deal_stage_history::deal_id.eq_any(chunk))
            .group_by((deal_stage_history::deal_id, deal_stage_history::to_stage_id))
            .select((deal_stage_history::deal_id, deal_stage_history::to_stage_id, max(deal_stage_history::changed_at)))
            .load(conn)?;
        entered.extend(moves.into_iter().filter_map(|(d, s, at)| at.map(|at| ((d, s), at))));
    }
    Ok(rows
        .into_iter()
        .map(|(id, client_id, pipeline_id, stage_id, title, amount, owner_id, created_at, stage_name, stage_kind)| {
            DealFacts {
                id,
                client_id,
                pipeline_id,
                stage_id,
                title,
                amount,
                owner_id,
                stage_name,
                stage_kind,
                entered_stage_at: entered.get(&(id, stage_id)).copied().unwrap_or(created_at),
            }
        })
        .collect())
}

#[derive(Debug, Clone)]
pub struct ContactFacts {
    pub id: i64,
    pub client_id: i64,
    pub name: String,
    pub decision_maker: bool,
    pub birthday: Option<NaiveDate>,
}

type ContactCols = (i64, i64, String, bool, Option<NaiveDate>);

/// Live contact persons of live clients (those with a birthday only, when asked), or those of `ids`.
pub fn contacts(conn: &mut DbConn, ids: Option<&[i64]>, with_birthday: bool) -> QueryResult<Vec<ContactFacts>> {
    let query = || {
        let mut q = contacts::table
            .inner_join(clients::table)
            .filter(contacts::deleted_at.is_null())
            .filter(clients::deleted_at.is_null())
            .select((
                contacts::id,
                contacts::client_id,
                contacts::name,
                contacts::is_decision_maker,
                contacts::birthday,
            ))
            .into_boxed::<Db>();
        if with_birthday {
            q = q.filter(contacts::birthday.is_not_null());
        }
        q
    };
    let rows: Vec<ContactCols> = match ids {
        None => query().order(contacts::id.asc()).load(conn)?,
        Some(ids) => query().filter(contacts::id.eq_any(ids.to_vec())).load(conn)?,
    };
    Ok(rows
        .into_iter()
        .map(|(id, client_id, name, decision_maker, birthday)| ContactFacts {
            id,
            client_id,
            name,
            decision_maker,
            birthday,
        })
        .collect())
}

/// Whether the sale is its client's first (no earlier sale, by day then id).
pub fn first_sale(conn: &mut DbConn, sale_id: i64) -> QueryResult<Option<bool>> {
    let Some((client_id, sold_on)) = sales::table
        .find(sale_id)
        .select((sales::client_id, sales::sold_on))
        .first::<(i64, NaiveDate)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let earlier: i64 = sales::table
        .filter(sales::client_id.eq(client_id))
        .filter(sales::sold_on.lt(sold_on).or(sales::sold_on.eq(sold_on).and(sales::id.lt(sale_id))))
        .count()
        .get_result(conn)?;
    Ok(Some(earlier == 0))
}

/// The kind of a stage.
pub fn stage_kind(conn: &mut DbConn, stage_id: i64) -> QueryResult<Option<String>> {
    pipeline_stages::table.find(stage_id).select(pipeline_stages::kind).first(conn).optional()
}

/// The active users' ids.
pub fn active_users(conn: &mut DbConn) -> QueryResult<std::collections::HashSet<i64>> {
    Ok(users::table.filter(users::active.eq(true)).select(users::id).load::<i64>(conn)?.into_iter().collect())
}

/// The live cards of these clients.
pub fn cards(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<crate::clients::model::Client>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(1000) {
        let rows: Vec<crate::clients::model::ClientRow> =
            clients::table.filter(clients::deleted_at.is_null()).filter(clients::id.eq_any(chunk)).load(conn)?;
        out.extend(crate::clients::repo::to_clients(conn, rows)?);
    }
    Ok(out)
}
