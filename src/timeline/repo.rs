//! The timeline's queries: one UNION over every kind for the order of a page, then one query
//! per kind for the details.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::model::{CampaignRef, DealRef, EntryKind, StageRef, TimelineEntry};
use crate::activities::{self, Activity};
use crate::campaigns::RecipientStatus;
use crate::db::schema::{campaign_recipient_events, campaigns, deal_stage_history, deals, pipeline_stages};
use crate::db::{Backend, DbConn};
use crate::error::ApiError;
use crate::pagination::{self, Cursor, KeyValue, Page};
use crate::sales::{self, Sale};
use crate::tasks::{self, Task};

impl EntryKind {
    /// The UNION branch listing this kind's (kind, at, ref_id) for client `$1`.
    fn branch(self, backend: Backend) -> String {
        let sql = match self {
            EntryKind::Campaign => {
                "SELECT 'campaign' AS kind, e.occurred_at AS at, e.id AS ref_id FROM campaign_recipient_events e \
                 WHERE e.client_id = $1"
            }
            // A purchase happened on a day: it sorts at that day's midnight.
            EntryKind::Purchase => {
                return format!(
                    "SELECT 'purchase' AS kind, {} AS at, s.id AS ref_id FROM sales s WHERE s.client_id = $1",
                    crate::db::dialect::day_start(backend, "s.sold_on")
                )
            }
            EntryKind::Activity => {
                "SELECT 'activity' AS kind, a.occurred_at AS at, a.id AS ref_id FROM activities a \
                 WHERE a.client_id = $1 AND a.deleted_at IS NULL"
            }
            EntryKind::DealCreated => {
                "SELECT 'deal_created' AS kind, h.changed_at AS at, h.id AS ref_id FROM deal_stage_history h \
                 JOIN deals d ON d.id = h.deal_id \
                 WHERE d.client_id = $1 AND d.deleted_at IS NULL AND h.from_stage_id IS NULL"
            }
            EntryKind::DealStageChanged => {
                "SELECT 'deal_stage_changed' AS kind, h.changed_at AS at, h.id AS ref_id FROM deal_stage_history h \
                 JOIN deals d ON d.id = h.deal_id \
                 WHERE d.client_id = $1 AND d.deleted_at IS NULL AND h.from_stage_id IS NOT NULL"
            }
            EntryKind::TaskCompleted => {
                "SELECT 'task_completed' AS kind, t.completed_at AS at, t.id AS ref_id FROM tasks t \
                 WHERE t.client_id = $1 AND t.status = 'done' AND t.completed_at IS NOT NULL"
            }
        };
        sql.to_string()
    }
}

#[derive(QueryableByName)]
struct Slot {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Timestamp)]
    at: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    ref_id: i64,
}

const CURSOR_TAG: &str = "timeline";

/// The position after a slot: its time and kind in the key, its id as the tie-breaker.
fn cursor_of(slot: &Slot) -> Cursor {
    let KeyValue::Text(at) = pagination::ts_key(slot.at) else { unreachable!("timestamps are text keys") };
    Cursor { sort: CURSOR_TAG.into(), key: KeyValue::Text(format!("{at}|{}", slot.kind)), id: slot.ref_id }
}

fn decode_cursor(raw: &str) -> Result<(NaiveDateTime, String, i64), ApiError> {
    let c = Cursor::decode(raw, CURSOR_TAG)?;
    let (at, kind) = c.text()?.split_once('|').ok_or_else(|| ApiError::query("cursor", "is malformed"))?;
    let at_cursor = Cursor { sort: CURSOR_TAG.into(), key: KeyValue::Text(at.into()), id: c.id };
    Ok((at_cursor.timestamp()?, kind.to_string(), c.id))
}

/// The page of (kind, time, id) slots, newest first.
fn slots(
    conn: &mut DbConn,
    client_id: i64,
    kinds: &[EntryKind],
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<Slot>, ApiError> {
    let backend = conn.backend();
    let union = kinds.iter().map(|k| k.branch(backend)).collect::<Vec<_>>().join(" UNION ALL ");
    let after = cursor.map(decode_cursor).transpose()?;
    // Placeholders are numbered in order of first use, which both backends accept.
    let (condition, limit_param) = match after {
        Some(_) => ("WHERE at < $2 OR (at = $2 AND (kind < $3 OR (kind = $3 AND ref_id < $4)))", "$5"),
        None => ("", "$2"),
    };
    let sql = format!(
        "SELECT kind, at, ref_id FROM ({union}) AS t {condition} ORDER BY at DESC, kind DESC, ref_id DESC LIMIT {limit_param}"
    );
    let query = diesel::sql_query(sql).bind::<BigInt, _>(client_id);
    let rows = match after {
        Some((at, kind, id)) => query
            .bind::<Timestamp, _>(at)
            .bind::<Text, _>(kind)
            .bind::<BigInt, _>(id)
            .bind::<BigInt, _>(limit + 1)
            .load::<Slot>(conn)?,
        None => query.bind::<BigInt, _>(limit + 1).load::<Slot>(conn)?,
    };
    Ok(rows)
}

#[derive(Queryable)]
struct ChangeDetail {
    id: i64,
    deal_id: i64,
    from_stage_id: Option<i64>,
    to_stage_id: i64,
    changed_by: Option<String>,
    title: String,
}

pub fn page(
    conn: &mut DbConn,
    client_id: i64,
    owner_only: Option<i64>,
    kinds: &[EntryKind],
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<TimelineEntry>, ApiError> {
    crate::clients::repo::get_row(conn, client_id, owner_only)?;
    let mut rows = slots(conn, client_id, kinds, cursor, limit)?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|s| cursor_of(s).encode())
    } else {
        None
    };
    let ids_of = |kind: &[&str]| -> Vec<i64> {
        rows.iter().filter(|s| kind.contains(&s.kind.as_str())).map(|s| s.ref_id).collect()
    };
    let activities: HashMap<i64, Activity> =
        activities::by_ids(conn, &ids_of(&["activity"]))?.into_iter().map(|a| (a.id, a)).collect();
    let sales: HashMap<i64, Sale> =
        sales::by_ids(conn, &ids_of(&["purchase"]))?.into_iter().map(|s| (s.id, s)).collect();
    let mailings: HashMap<i64, (i64, String, String, Option<String>)> = campaign_recipient_events::table
        .inner_join(campaigns::table)
        .filter(campaign_recipient_events::id.eq_any(ids_of(&["campaign"])))
        .select((
            campaign_recipient_events::id,
            campaigns::id,
            campaigns::name,
            campaign_recipient_events::status,
            campaign_recipient_events::detail,
        ))
        .load::<(i64, i64, String, String, Option<String>)>(conn)?
        .into_iter()
        .map(|(id, cid, name, status, detail)| (id, (cid, name, status, detail)))
        .collect();
    let tasks: HashMap<i64, Task> =
        tasks::by_ids(conn, &ids_of(&["task_completed"]))?.into_iter().map(|t| (t.id, t)).collect();
    let changes: HashMap<i64, ChangeDetail> = deal_stage_history::table
        .inner_join(deals::table)
        .filter(deal_stage_history::id.eq_any(ids_of(&["deal_created", "deal_stage_changed"])))
        .select((
            deal_stage_history::id,
            deal_stage_history::deal_id,
            deal_stage_history::from_stage_id,
            deal_stage_history::to_stage_id,
            deal_stage_history::changed_by,
            deals::title,
        ))
        .load::<ChangeDetail>(conn)?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let stage_ids: Vec<i64> = changes.values().flat_map(|c| [Some(c.to_stage_id), c.from_stage_id]).flatten().collect();
    let stages: HashMap<i64, String> = pipeline_stages::table
        .filter(pipeline_stages::id.eq_any(stage_ids))
        .select((pipeline_stages::id, pipeline_stages::name))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    let stage = |id: i64| StageRef { id, name: stages.get(&id).cloned().unwrap_or_default() };
    let mut items = Vec::with_capacity(rows.len());
    for slot in rows {
        let occurred_at = slot.at.and_utc();
        let entry = match EntryKind::parse(&slot.kind) {
            Some(EntryKind::Activity) => {
                activities.get(&slot.ref_id).cloned().map(|activity| TimelineEntry::Activity { occurred_at, activity })
            }
            Some(EntryKind::Campaign) => {
                mailings.get(&slot.ref_id).map(|(cid, name, status, detail)| TimelineEntry::Campaign {
                    occurred_at,
                    campaign: CampaignRef { id: *cid, name: name.clone() },
                    status: RecipientStatus::parse(status),
                    detail: detail.clone(),
                })
            }
            Some(EntryKind::Purchase) => {
                sales.get(&slot.ref_id).cloned().map(|sale| TimelineEntry::Purchase { occurred_at, sale })
            }
            Some(EntryKind::TaskCompleted) => {
                tasks.get(&slot.ref_id).cloned().map(|task| TimelineEntry::TaskCompleted { occurred_at, task })
            }
            Some(kind @ (EntryKind::DealCreated | EntryKind::DealStageChanged)) => changes.get(&slot.ref_id).map(|c| {
                let deal = DealRef { id: c.deal_id, title: c.title.clone() };
                match (kind, c.from_stage_id) {
                    (EntryKind::DealStageChanged, Some(from)) => TimelineEntry::DealStageChanged {
                        occurred_at,
                        deal,
                        from_stage: stage(from),
                        to_stage: stage(c.to_stage_id),
                        changed_by: c.changed_by.clone(),
                    },
                    _ => TimelineEntry::DealCreated {
                        occurred_at,
                        deal,
                        stage: stage(c.to_stage_id),
                        changed_by: c.changed_by.clone(),
                    },
                }
            }),
            None => None,
        };
        items.extend(entry);
    }
    Ok(Page { items, next_cursor })
}
