//! Campaign storage: campaigns as the caller may see them (a manager's copy hides the clients
//! of others), recipients through the shared visibility rule, the writes of a launch, and the
//! provider's status reports recorded per recipient.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::{Campaign, CampaignRow, MergeField, NewCampaign, Recipient, RecipientRow, RecipientStatus, Target};
use crate::clients::model::ClientRow;
use crate::db::schema::{
    campaign_recipient_events, campaign_recipients, campaigns, clients, contacts, provider_messages, users,
};
use crate::db::{now, Db, DbConn};
use crate::error::ApiError;
use crate::pagination::{page_from, Cursor, KeyValue, Page};
use crate::versioning::AtReadVersion;

pub const ENTITY: &str = "campaign";

pub fn get(conn: &mut DbConn, id: i64) -> Result<Campaign, ApiError> {
    Ok(campaigns::table.find(id).select(CampaignRow::as_select()).first::<CampaignRow>(conn)?.into())
}

/// A campaign as the caller may see it: a manager's copy lists only the audience's clients they
/// may see (the counts in its stats stay those of the whole audience).
pub fn get_visible(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<Campaign, ApiError> {
    let mut campaign = get(conn, id)?;
    hide_unseen(conn, std::slice::from_mut(&mut campaign), owner_only)?;
    Ok(campaign)
}

/// Drops from explicit audiences the clients a manager may not see, in one query.
fn hide_unseen(conn: &mut DbConn, list: &mut [Campaign], owner_only: Option<i64>) -> QueryResult<()> {
    let Some(me) = owner_only else { return Ok(()) };
    let named: Vec<i64> = list.iter().filter_map(|c| c.audience.client_ids.as_ref()).flatten().copied().collect();
    if named.is_empty() {
        return Ok(());
    }
    let visible: HashSet<i64> = crate::clients::visibility::owned_by(me)
        .filter(clients::id.eq_any(named))
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    for ids in list.iter_mut().filter_map(|c| c.audience.client_ids.as_mut()) {
        ids.retain(|id| visible.contains(id));
    }
    Ok(())
}

pub fn list(
    conn: &mut DbConn,
    cursor: Option<&str>,
    limit: i64,
    owner_only: Option<i64>,
) -> Result<Page<Campaign>, ApiError> {
    let mut q = campaigns::table.select(CampaignRow::as_select()).into_boxed::<Db>();
    if let Some(raw) = cursor {
        q = q.filter(campaigns::id.lt(Cursor::decode(raw, "-id")?.id));
    }
    let rows: Vec<CampaignRow> = q.order(campaigns::id.desc()).limit(limit + 1).load(conn)?;
    let mut page =
        page_from(rows, limit, |r| Cursor { sort: "-id".into(), key: KeyValue::Null, id: r.id }).map(Campaign::from);
    hide_unseen(conn, &mut page.items, owner_only)?;
    Ok(page)
}

/// Stores a validated draft.
pub fn insert(conn: &mut DbConn, input: &NewCampaign, created_by: Option<String>) -> QueryResult<Campaign> {
    let at = now();
    // Never an id a deleted row had (SQLite's rowid would hand it out again).
    let id = crate::db::allocate_ids(conn, "campaigns", 1)?[0];
    let row: CampaignRow = diesel::insert_into(campaigns::table)
        .values((
            campaigns::id.eq(id),
            campaigns::name.eq(input.name.trim()),
            campaigns::channel.eq(input.channel.as_str()),
            campaigns::segment_id.eq(input.audience.segment_id),
            campaigns::client_ids.eq(input
                .audience
                .client_ids
                .as_ref()
                .map(|ids| serde_json::to_string(ids).unwrap_or_default())),
            campaigns::subject.eq(&input.subject),
            campaigns::template.eq(input.template.trim()),
            campaigns::merge_fields.eq(serde_json::to_string(&input.merge_fields).unwrap_or_default()),
            campaigns::provider.eq(&input.provider),
            campaigns::scheduled_at.eq(input.scheduled_at.map(|t| t.naive_utc())),
            campaigns::status.eq("draft"),
            campaigns::created_by.eq(created_by),
            campaigns::version.eq(1i64),
            campaigns::created_at.eq(at),
            campaigns::updated_at.eq(at),
        ))
        .returning(campaigns::all_columns)
        .get_result(conn)?;
    Ok(row.into())
}

/// Writes validated values over a draft at the version that was read (412 if it changed
/// since); the channel stays the one the campaign was created with.
pub fn update(conn: &mut DbConn, id: i64, version: i64, values: &NewCampaign) -> Result<Campaign, ApiError> {
    let row: CampaignRow =
        diesel::update(campaigns::table.filter(campaigns::id.eq(id)).filter(campaigns::version.eq(version)))
            .set((
                campaigns::name.eq(values.name.trim()),
                campaigns::segment_id.eq(values.audience.segment_id),
                campaigns::client_ids.eq(values
                    .audience
                    .client_ids
                    .as_ref()
                    .map(|ids| serde_json::to_string(ids).unwrap_or_default())),
                campaigns::subject.eq(&values.subject),
                campaigns::template.eq(values.template.trim()),
                campaigns::merge_fields.eq(serde_json::to_string(&values.merge_fields).unwrap_or_default()),
                campaigns::provider.eq(&values.provider),
                campaigns::scheduled_at.eq(values.scheduled_at.map(|t| t.naive_utc())),
                campaigns::version.eq(version + 1),
                campaigns::updated_at.eq(now()),
            ))
            .returning(campaigns::all_columns)
            .get_result(conn)
            .at_read_version()?;
    Ok(row.into())
}

pub fn delete(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    diesel::delete(campaigns::table.find(id)).execute(conn)
}

/// Takes a draft out of draft, so that concurrent launches race for one row: 0 when it was
/// not a draft (any more).
pub fn take_draft(conn: &mut DbConn, id: i64, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(campaigns::table.filter(campaigns::id.eq(id)).filter(campaigns::status.eq("draft")))
        .set((
            campaigns::status.eq("launched"),
            campaigns::launched_at.eq(Some(at)),
            campaigns::version.eq(campaigns::version + 1),
        ))
        .execute(conn)
}

/// The live clients among these ids, in any order.
pub fn live_clients(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<ClientRow>> {
    let mut found: Vec<ClientRow> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(1000) {
        found.extend(
            clients::table
                .filter(clients::id.eq_any(chunk))
                .filter(clients::deleted_at.is_null())
                .filter(crate::clients::repo::is_client())
                .load::<ClientRow>(conn)?,
        );
    }
    Ok(found)
}

/// Snapshots the chosen clients as queued recipients, `batch_size` to a batch; gives each
/// client's recipient id.
pub fn insert_recipients(
    conn: &mut DbConn,
    id: i64,
    chosen: &[(&ClientRow, String)],
    batch_size: usize,
    at: NaiveDateTime,
) -> QueryResult<HashMap<i64, i64>> {
    let rows: Vec<_> = chosen
        .iter()
        .enumerate()
        .map(|(i, (c, address))| {
            (
                campaign_recipients::campaign_id.eq(id),
                campaign_recipients::client_id.eq(c.id),
                campaign_recipients::address.eq(address.as_str()),
                campaign_recipients::batch.eq((i / batch_size) as i32),
                campaign_recipients::status.eq(RecipientStatus::Queued.as_str()),
                campaign_recipients::status_at.eq(at),
            )
        })
        .collect();
    for chunk in rows.chunks(1000) {
        crate::insert_rows!(conn, campaign_recipients::table, chunk)?;
    }
    Ok(campaign_recipients::table
        .filter(campaign_recipients::campaign_id.eq(id))
        .select((campaign_recipients::client_id, campaign_recipients::id))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect())
}

/// The merge values of many clients, in three queries.
pub fn merge_values(
    conn: &mut DbConn,
    rows: &[&ClientRow],
    fields: &[MergeField],
) -> QueryResult<HashMap<i64, BTreeMap<String, Option<String>>>> {
    let owner_ids: Vec<i64> = rows.iter().filter_map(|c| c.owner_id).collect();
    let owners: HashMap<i64, String> = if fields.contains(&MergeField::OwnerName) {
        users::table
            .filter(users::id.eq_any(&owner_ids))
            .select((users::id, users::name))
            .load(conn)?
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };
    let mut people: HashMap<i64, String> = HashMap::new();
    if fields.contains(&MergeField::ContactName) {
        let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
        let list: Vec<(i64, String, bool)> = contacts::table
            .filter(contacts::client_id.eq_any(&ids))
            .filter(contacts::deleted_at.is_null())
            .order((contacts::client_id, contacts::is_decision_maker.desc(), contacts::id))
            .select((contacts::client_id, contacts::name, contacts::is_decision_maker))
            .load(conn)?;
        for (client, name, _) in list {
            people.entry(client).or_insert(name);
        }
    }
    Ok(rows
        .iter()
        .map(|c| {
            let values = fields
                .iter()
                .map(|f| {
                    let (key, value) = match f {
                        MergeField::Name => ("name", Some(c.name.clone())),
                        MergeField::LegalName => ("legal_name", c.legal_name.clone()),
                        MergeField::Region => ("region", c.region.clone()),
                        MergeField::Industry => ("industry", c.industry.clone()),
                        MergeField::OwnerName => ("owner_name", c.owner_id.and_then(|o| owners.get(&o).cloned())),
                        MergeField::ContactName => ("contact_name", people.get(&c.id).cloned()),
                    };
                    (key.to_string(), value)
                })
                .collect();
            (c.id, values)
        })
        .collect())
}

/// Records the clients left out at launch, by reason.
pub fn set_skipped(
    conn: &mut DbConn,
    id: i64,
    skipped: &BTreeMap<String, i64>,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(campaigns::table.find(id))
        .set((
            campaigns::skipped.eq(Some(serde_json::to_string(skipped).unwrap_or_default())),
            campaigns::updated_at.eq(at),
        ))
        .execute(conn)
}

pub fn recipients(
    conn: &mut DbConn,
    id: i64,
    status: Option<RecipientStatus>,
    cursor: Option<&str>,
    limit: i64,
    owner_only: Option<i64>,
) -> Result<Page<Recipient>, ApiError> {
    get(conn, id)?;
    let mut q = campaign_recipients::table
        .filter(campaign_recipients::campaign_id.eq(id))
        .select(RecipientRow::as_select())
        .into_boxed::<Db>();
    if let Some(me) = owner_only {
        q = q.filter(campaign_recipients::client_id.eq_any(crate::clients::visibility::owned_by(me)));
    }
    if let Some(s) = status {
        q = q.filter(campaign_recipients::status.eq(s.as_str()));
    }
    if let Some(raw) = cursor {
        q = q.filter(campaign_recipients::id.gt(Cursor::decode(raw, "id")?.id));
    }
    let rows: Vec<RecipientRow> = q.order(campaign_recipients::id).limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor { sort: "id".into(), key: KeyValue::Null, id: r.id }).map(Recipient::from))
}

/// How many recipients of a campaign are at each status (statuses nobody is at are absent).
pub fn status_counts(conn: &mut DbConn, id: i64) -> QueryResult<Vec<(String, i64)>> {
    campaign_recipients::table
        .filter(campaign_recipients::campaign_id.eq(id))
        .group_by(campaign_recipients::status)
        .select((campaign_recipients::status, diesel::dsl::count_star()))
        .load(conn)
}

/// Notes a provider's message as received: a unique violation when it was received before.
pub fn record_message(conn: &mut DbConn, provider: &str, message_id: &str) -> QueryResult<usize> {
    diesel::insert_into(provider_messages::table)
        .values((
            provider_messages::provider.eq(provider),
            provider_messages::message_id.eq(message_id),
            provider_messages::received_at.eq(now()),
        ))
        .execute(conn)
}

/// The recipients of the provider's campaigns among these ids, by id.
pub(crate) fn targets(conn: &mut DbConn, ids: &[i64], provider: &str) -> QueryResult<HashMap<i64, Target>> {
    Ok(campaign_recipients::table
        .inner_join(campaigns::table)
        .filter(campaign_recipients::id.eq_any(ids))
        .filter(campaigns::provider.eq(provider))
        .select((
            campaign_recipients::id,
            campaign_recipients::campaign_id,
            campaign_recipients::client_id,
            campaign_recipients::address,
            campaign_recipients::status,
        ))
        .load::<Target>(conn)?
        .into_iter()
        .map(|t| (t.id, t))
        .collect())
}

/// Moves a recipient to a status, and keeps the move in its history.
pub(crate) fn set_status(
    conn: &mut DbConn,
    target: &Target,
    status: RecipientStatus,
    at: NaiveDateTime,
    detail: &Option<String>,
) -> QueryResult<()> {
    diesel::update(campaign_recipients::table.find(target.id))
        .set((
            campaign_recipients::status.eq(status.as_str()),
            campaign_recipients::status_at.eq(at),
            campaign_recipients::detail.eq(detail),
        ))
        .execute(conn)?;
    diesel::insert_into(campaign_recipient_events::table)
        .values((
            campaign_recipient_events::recipient_id.eq(target.id),
            campaign_recipient_events::campaign_id.eq(target.campaign_id),
            campaign_recipient_events::client_id.eq(target.client_id),
            campaign_recipient_events::status.eq(status.as_str()),
            campaign_recipient_events::occurred_at.eq(at),
            campaign_recipient_events::detail.eq(detail),
        ))
        .execute(conn)?;
    Ok(())
}
