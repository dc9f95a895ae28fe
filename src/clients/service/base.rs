//! Operations on the base as a whole: duplicate detection and merge, reassignment between
//! managers, and purge (erasure on request). Each runs in one transaction.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clients::contact_points::phone_in;
use crate::clients::model::{Client, ClientFields, ClientStatus};
use crate::clients::repo::{self, ENTITY};
use crate::db::schema::{
    activities, campaign_recipient_events, campaign_recipients, client_merges, client_status_history, client_tags,
    clients, contact_points, contacts, deals, events as events_t, external_ids, sales, tasks, users,
    webhook_deliveries,
};
use crate::db::sql::Sql;
use crate::db::{now, DbConn};
use crate::error::ApiError;
use crate::events::{self, NewEvent, Origin};
use crate::pagination::{Cursor, KeyValue, Page};

/// Why clients are grouped as probable duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateReason {
    Phone,
    Email,
    Inn,
    /// The same name once case, quotes, punctuation and legal forms are set aside, in one region.
    Name,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DuplicateMember {
    pub id: i64,
    pub name: String,
    pub inn: Option<String>,
    pub region: Option<String>,
    pub status: ClientStatus,
    pub owner_id: Option<i64>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DuplicateGroup {
    pub reason: DuplicateReason,
    /// The shared value: the phone (E.164), email, INN, or `region|name key`.
    pub key: String,
    /// Oldest first: a natural survivor for a merge.
    pub clients: Vec<DuplicateMember>,
}

#[derive(QueryableByName)]
struct GroupKey {
    #[diesel(sql_type = Text)]
    reason: String,
    #[diesel(sql_type = Text)]
    key: String,
}

fn push_owner(sql: &mut Sql, owner_only: Option<i64>) {
    if let Some(me) = owner_only {
        sql.push(" AND c.owner_id = ").int(me);
    }
}

/// Groups of live clients sharing a phone, an email, an INN or a name within a region,
/// keyset-paginated by (reason, key); a page costs four queries.
pub fn duplicates(
    conn: &mut DbConn,
    owner_only: Option<i64>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<DuplicateGroup>, ApiError> {
    const TAG: &str = "duplicates";
    let mut sql = Sql::new(
        "SELECT reason, key FROM (SELECT cp.kind AS reason, cp.value AS key FROM contact_points cp \
         JOIN clients c ON c.id = cp.client_id WHERE c.deleted_at IS NULL",
    );
    push_owner(&mut sql, owner_only);
    sql.push(
        " GROUP BY cp.kind, cp.value HAVING COUNT(DISTINCT cp.client_id) > 1 \
         UNION ALL SELECT 'inn' AS reason, c.inn AS key FROM clients c WHERE c.deleted_at IS NULL AND c.inn IS NOT NULL",
    );
    push_owner(&mut sql, owner_only);
    sql.push(
        " GROUP BY c.inn HAVING COUNT(*) > 1 UNION ALL SELECT 'name' AS reason, \
         COALESCE(c.region, '') || '|' || c.name_key AS key FROM clients c \
         WHERE c.deleted_at IS NULL AND c.name_key IS NOT NULL AND c.name_key <> ''",
    );
    push_owner(&mut sql, owner_only);
    sql.push(" GROUP BY c.region, c.name_key HAVING COUNT(*) > 1) AS t");
    if let Some(raw) = cursor {
        let c = Cursor::decode(raw, TAG)?;
        let (reason, key) = c.text()?.split_once('\n').map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or_default();
        sql.push(" WHERE reason > ")
            .text(&reason)
            .push(" OR (reason = ")
            .text(&reason)
            .push(" AND key > ")
            .text(&key)
            .push(")");
    }
    sql.push(" ORDER BY reason, key LIMIT ").int(limit + 1);
    let mut keys: Vec<GroupKey> = sql.query().load(conn)?;
    let next_cursor = if keys.len() as i64 > limit {
        keys.truncate(limit as usize);
        keys.last().map(|k| {
            Cursor { sort: TAG.into(), key: KeyValue::Text(format!("{}\n{}", k.reason, k.key)), id: 0 }.encode()
        })
    } else {
        None
    };
    let wanted = |r: &str| keys.iter().filter(|k| k.reason == r).map(|k| k.key.clone()).collect::<Vec<_>>();
    let mut members: HashMap<(String, String), Vec<i64>> = HashMap::new();
    let points: Vec<(String, String, i64)> = contact_points::table
        .filter(
            phone_in(&wanted("phone"))
                .or(contact_points::kind.eq("email").and(contact_points::value.eq_any(wanted("email")))),
        )
        .select((contact_points::kind, contact_points::value, contact_points::client_id))
        .load(conn)?;
    for (kind, value, id) in points {
        members.entry((kind, value)).or_default().push(id);
    }
    let by_inn: Vec<(Option<String>, i64)> =
        clients::table.filter(clients::inn.eq_any(wanted("inn"))).select((clients::inn, clients::id)).load(conn)?;
    for (inn, id) in by_inn {
        members.entry(("inn".into(), inn.unwrap_or_default())).or_default().push(id);
    }
    let name_keys: Vec<String> =
        wanted("name").iter().filter_map(|k| k.split_once('|').map(|(_, n)| n.to_string())).collect();
    let by_name: Vec<(Option<String>, Option<String>, i64)> = clients::table
        .filter(clients::name_key.eq_any(name_keys))
        .select((clients::region, clients::name_key, clients::id))
        .load(conn)?;
    for (region, key, id) in by_name {
        members
            .entry(("name".into(), format!("{}|{}", region.unwrap_or_default(), key.unwrap_or_default())))
            .or_default()
            .push(id);
    }
    let ids: Vec<i64> = members.values().flatten().copied().collect();
    let mut q = clients::table
        .filter(clients::id.eq_any(&ids))
        .filter(clients::deleted_at.is_null())
        .select((
            clients::id,
            clients::name,
            clients::inn,
            clients::region,
            clients::status,
            clients::owner_id,
            clients::created_at,
        ))
        .into_boxed::<crate::db::Db>();
    q = crate::clients::visibility::clients_of(q, owner_only);
    type Member = (i64, String, Option<String>, Option<String>, String, Option<i64>, NaiveDateTime);
    let found: HashMap<i64, Member> = q.load::<Member>(conn)?.into_iter().map(|m| (m.0, m)).collect();
    let items = keys
        .into_iter()
        .map(|k| {
            let mut list: Vec<DuplicateMember> = members
                .get(&(k.reason.clone(), k.key.clone()))
                .into_iter()
                .flatten()
                .filter_map(|id| found.get(id))
                .map(|m| DuplicateMember {
                    id: m.0,
                    name: m.1.clone(),
                    inn: m.2.clone(),
                    region: m.3.clone(),
                    status: ClientStatus::parse(&m.4).unwrap_or(ClientStatus::Potential),
                    owner_id: m.5,
                    created_at: m.6.and_utc(),
                })
                .collect();
            list.sort_by_key(|m| (m.created_at, m.id));
            list.dedup_by_key(|m| m.id);
            let reason = match k.reason.as_str() {
                "phone" => DuplicateReason::Phone,
                "email" => DuplicateReason::Email,
                "inn" => DuplicateReason::Inn,
                _ => DuplicateReason::Name,
            };
            DuplicateGroup { reason, key: k.key, clients: list }
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// The survivor's card with the duplicate's data added where the survivor has none.
fn merged_fields(survivor: &Client, duplicate: &Client) -> ClientFields {
    let mut f = ClientFields::from_client(survivor);
    let d = ClientFields::from_client(duplicate);
    macro_rules! fill {
        ($($field:ident),*) => { $( if f.$field.is_none() { f.$field = d.$field.clone(); } )* };
    }
    fill!(legal_name, inn, channel, region, industry, source, owner_id, estimated_potential);
    f.notes = match (f.notes.take(), d.notes) {
        (Some(a), Some(b)) if a != b => Some(format!("{a}\n\n{b}")),
        (a, b) => a.or(b),
    };
    for (k, v) in d.custom_fields {
        f.custom_fields.entry(k).or_insert(v);
    }
    for tag in d.tags {
        if !f.tags.contains(&tag) {
            f.tags.push(tag);
        }
    }
    for p in d.phones {
        if !f.phones.iter().any(|x| x.number == p.number) {
            f.phones.push(p);
        }
    }
    for e in d.emails {
        if !f.emails.iter().any(|x| x.address == e.address) {
            f.emails.push(e);
        }
    }
    for a in d.addresses {
        if !f.addresses.contains(&a) {
            f.addresses.push(a);
        }
    }
    for (source, id) in d.external_ids {
        f.external_ids.entry(source).or_insert(id);
    }
    f
}

/// Merges `duplicate_id` into `survivor_id`: everything related moves to the survivor, its
/// empty fields are filled from the duplicate, and the duplicate becomes a tombstone pointing at
/// the survivor. Campaign recipients already present on the survivor stay with the tombstone.
pub fn merge(
    conn: &mut DbConn,
    survivor_id: i64,
    duplicate_id: i64,
    owner_only: Option<i64>,
    origin: &Origin,
) -> Result<Client, ApiError> {
    if survivor_id == duplicate_id {
        return Err(ApiError::field("duplicate_id", "a client cannot be merged into itself"));
    }
    let survivor = repo::get(conn, survivor_id, owner_only)?;
    let duplicate = match repo::get(conn, duplicate_id, owner_only) {
        Ok(d) => d,
        Err(ApiError::NotFound) => return Err(ApiError::field("duplicate_id", "is not a client you can see")),
        Err(e) => return Err(e),
    };
    let fields = merged_fields(&survivor, &duplicate);
    let (s, d) = (survivor_id, duplicate_id);
    diesel::update(contacts::table.filter(contacts::client_id.eq(d))).set(contacts::client_id.eq(s)).execute(conn)?;
    diesel::update(
        contact_points::table.filter(contact_points::client_id.eq(d)).filter(contact_points::contact_id.is_not_null()),
    )
    .set(contact_points::client_id.eq(s))
    .execute(conn)?;
    diesel::update(activities::table.filter(activities::client_id.eq(d)))
        .set(activities::client_id.eq(s))
        .execute(conn)?;
    diesel::update(deals::table.filter(deals::client_id.eq(d))).set(deals::client_id.eq(s)).execute(conn)?;
    diesel::update(sales::table.filter(sales::client_id.eq(d))).set(sales::client_id.eq(s)).execute(conn)?;
    diesel::update(tasks::table.filter(tasks::client_id.eq(Some(d))))
        .set(tasks::client_id.eq(Some(s)))
        .execute(conn)?;
    diesel::update(client_status_history::table.filter(client_status_history::client_id.eq(d)))
        .set(client_status_history::client_id.eq(s))
        .execute(conn)?;
    let survivor_campaigns: Vec<i64> = campaign_recipients::table
        .filter(campaign_recipients::client_id.eq(s))
        .select(campaign_recipients::campaign_id)
        .load(conn)?;
    diesel::update(
        campaign_recipients::table
            .filter(campaign_recipients::client_id.eq(d))
            .filter(campaign_recipients::campaign_id.ne_all(survivor_campaigns)),
    )
    .set(campaign_recipients::client_id.eq(s))
    .execute(conn)?;
    diesel::update(campaign_recipient_events::table.filter(campaign_recipient_events::client_id.eq(d)))
        .set(campaign_recipient_events::client_id.eq(s))
        .execute(conn)?;
    // The duplicate's external ids and index rows go before the survivor takes them over.
    diesel::delete(
        external_ids::table.filter(external_ids::entity_type.eq(ENTITY)).filter(external_ids::entity_id.eq(d)),
    )
    .execute(conn)?;
    diesel::delete(client_tags::table.filter(client_tags::client_id.eq(d))).execute(conn)?;
    diesel::delete(contact_points::table.filter(contact_points::client_id.eq(d))).execute(conn)?;
    crate::custom_fields::repo::remove_values(conn, crate::custom_fields::CustomEntity::Client, &[d])?;
    let at = now();
    diesel::update(clients::table.find(d))
        .set((clients::deleted_at.eq(Some(at)), clients::updated_at.eq(at), clients::version.eq(duplicate.version + 1)))
        .execute(conn)?;
    diesel::insert_into(client_merges::table)
        .values((
            client_merges::duplicate_id.eq(d),
            client_merges::survivor_id.eq(s),
            client_merges::merged_by.eq(origin.actor.clone()),
            client_merges::merged_at.eq(at),
        ))
        .execute(conn)?;
    repo::refresh_figures(conn, &[s])?;
    let (merged, _) = repo::update(conn, &survivor, &fields, origin)?;
    events::record(
        conn,
        origin,
        NewEvent {
            event_type: "client.merged",
            entity_type: ENTITY,
            entity_id: d,
            payload: serde_json::json!({ "id": d, "merged_into": s, "merged_at": at.and_utc() }).to_string(),
        },
    )?;
    // The figures changed with the moved sales.
    repo::get(conn, merged.id, None)
}

/// The client a merged-away id now lives on, if the caller may see it.
pub fn merged_into(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> QueryResult<Option<i64>> {
    let survivor: Option<i64> =
        client_merges::table.find(id).select(client_merges::survivor_id).first(conn).optional()?;
    Ok(survivor.filter(|s| repo::get_row(conn, *s, owner_only).is_ok()))
}

/// Which clients a reassignment moves (within the old owner's live clients).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignFilter {
    pub status: Option<ClientStatus>,
    pub channel: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reassign {
    pub from_user_id: i64,
    pub to_user_id: i64,
    /// Only these of the old owner's clients (default: all); their open deals and tasks follow.
    pub filter: Option<ReassignFilter>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reassigned {
    pub from_user_id: i64,
    pub to_user_id: i64,
    pub clients: usize,
    pub deals: usize,
    pub tasks: usize,
}

/// Hands a manager's clients, open deals and open tasks to another user, in one transaction;
/// each moved record gets an event naming who moved it.
pub fn reassign(conn: &mut DbConn, input: &Reassign, origin: &Origin) -> Result<Reassigned, ApiError> {
    let (from, to) = (input.from_user_id, input.to_user_id);
    if from == to {
        return Err(ApiError::field("to_user_id", "must differ from from_user_id"));
    }
    let exists: i64 = users::table.find(from).count().get_result(conn)?;
    if exists == 0 {
        return Err(ApiError::field("from_user_id", "is not a user"));
    }
    let active: Option<bool> = users::table.find(to).select(users::active).first(conn).optional()?;
    if active != Some(true) {
        return Err(ApiError::field("to_user_id", "is not an active user"));
    }
    let f = input.filter.clone().unwrap_or_default();
    let filter = repo::ClientFilter {
        owner_id: Some(from),
        status: f.status,
        channel: f.channel,
        region: f.region,
        industry: f.industry,
        tag: f.tag,
        ..Default::default()
    };
    let ids: Vec<i64> = repo::matching(&filter, conn.backend()).select(clients::id).load(conn)?;
    let at = now();
    for chunk in ids.chunks(1000) {
        diesel::update(clients::table.filter(clients::id.eq_any(chunk)))
            .set((
                clients::owner_id.eq(Some(to)),
                clients::version.eq(clients::version + 1),
                clients::updated_at.eq(at),
            ))
            .execute(conn)?;
    }
    // Without a filter every open deal and task of the old owner moves; with one, those of the
    // moved clients.
    let mut deal_q = deals::table
        .filter(deals::owner_id.eq(from))
        .filter(deals::status.eq("open"))
        .filter(deals::deleted_at.is_null())
        .select(deals::id)
        .into_boxed::<crate::db::Db>();
    let mut task_q = tasks::table
        .filter(tasks::assignee_id.eq(from))
        .filter(tasks::status.eq("open"))
        .select(tasks::id)
        .into_boxed::<crate::db::Db>();
    if input.filter.is_some() {
        deal_q = deal_q.filter(deals::client_id.eq_any(ids.clone()));
        task_q = task_q.filter(tasks::client_id.eq_any(ids.iter().map(|i| Some(*i)).collect::<Vec<_>>()));
    }
    let deal_ids: Vec<i64> = deal_q.load(conn)?;
    let task_ids: Vec<i64> = task_q.load(conn)?;
    for chunk in deal_ids.chunks(1000) {
        diesel::update(deals::table.filter(deals::id.eq_any(chunk)))
            .set((deals::owner_id.eq(Some(to)), deals::version.eq(deals::version + 1), deals::updated_at.eq(at)))
            .execute(conn)?;
    }
    for chunk in task_ids.chunks(1000) {
        diesel::update(tasks::table.filter(tasks::id.eq_any(chunk)))
            .set((tasks::assignee_id.eq(Some(to)), tasks::version.eq(tasks::version + 1), tasks::updated_at.eq(at)))
            .execute(conn)?;
    }
    let moved = |entity: &'static str, event_type: &'static str, list: &[i64]| {
        list.iter()
            .map(|id| NewEvent {
                event_type,
                entity_type: entity,
                entity_id: *id,
                payload: serde_json::json!({ "id": id, "reassigned_from": from, "reassigned_to": to }).to_string(),
            })
            .collect::<Vec<_>>()
    };
    let mut list = moved(ENTITY, "client.updated", &ids);
    list.extend(moved("deal", "deal.updated", &deal_ids));
    list.extend(moved("task", "task.updated", &task_ids));
    events::record_many(conn, origin, list)?;
    Ok(Reassigned {
        from_user_id: from,
        to_user_id: to,
        clients: ids.len(),
        deals: deal_ids.len(),
        tasks: task_ids.len(),
    })
}

const PURGED: &str = "{\"purged\":true}";

/// Erases a soft-deleted client's personal data for good: the card keeps only its id, kind,
/// status and dates; contact persons, phones, emails, addresses, notes and external ids go;
/// activity texts, recording links, campaign addresses and the copies in the event log and the
/// webhook outbox are wiped. Deals and sales stay, anonymous.
pub fn purge(conn: &mut DbConn, id: i64, origin: &Origin) -> Result<(), ApiError> {
    let row: Option<(Option<NaiveDateTime>, i64)> =
        clients::table.find(id).select((clients::deleted_at, clients::version)).first(conn).optional()?;
    let Some((deleted_at, version)) = row else { return Err(ApiError::NotFound) };
    if deleted_at.is_none() {
        return Err(ApiError::Conflict("only a deleted client can be purged: delete it first".into()));
    }
    let contact_ids: Vec<i64> = contacts::table.filter(contacts::client_id.eq(id)).select(contacts::id).load(conn)?;
    let activity_ids: Vec<i64> =
        activities::table.filter(activities::client_id.eq(id)).select(activities::id).load(conn)?;
    let at = now();
    diesel::update(clients::table.find(id))
        .set((
            clients::name.eq(format!("Purged client {id}")),
            clients::legal_name.eq(None::<String>),
            clients::inn.eq(None::<String>),
            clients::lost_reason.eq(None::<String>),
            clients::region.eq(None::<String>),
            clients::industry.eq(None::<String>),
            clients::source.eq(None::<String>),
            clients::tags.eq("[]"),
            clients::notes.eq(None::<String>),
            clients::custom_fields.eq("{}"),
            clients::phones.eq("[]"),
            clients::emails.eq("[]"),
            clients::addresses.eq("[]"),
            clients::mailing_consent.eq(false),
            clients::estimated_potential.eq(None::<i64>),
            clients::search_text.eq(""),
            clients::name_key.eq(None::<String>),
            clients::version.eq(version + 1),
            clients::updated_at.eq(at),
        ))
        .execute(conn)?;
    diesel::delete(client_tags::table.filter(client_tags::client_id.eq(id))).execute(conn)?;
    diesel::delete(contact_points::table.filter(contact_points::client_id.eq(id))).execute(conn)?;
    diesel::delete(
        external_ids::table.filter(external_ids::entity_type.eq(ENTITY)).filter(external_ids::entity_id.eq(id)),
    )
    .execute(conn)?;
    diesel::update(activities::table.filter(activities::contact_id.eq_any(&contact_ids)))
        .set(activities::contact_id.eq(None::<i64>))
        .execute(conn)?;
    diesel::update(deals::table.filter(deals::contact_id.eq_any(&contact_ids)))
        .set(deals::contact_id.eq(None::<i64>))
        .execute(conn)?;
    diesel::delete(contacts::table.filter(contacts::client_id.eq(id))).execute(conn)?;
    crate::custom_fields::repo::remove_values(conn, crate::custom_fields::CustomEntity::Client, &[id])?;
    crate::custom_fields::repo::remove_values(conn, crate::custom_fields::CustomEntity::Contact, &contact_ids)?;
    diesel::update(activities::table.filter(activities::client_id.eq(id)))
        .set((
            activities::subject.eq(None::<String>),
            activities::body.eq(None::<String>),
            activities::outcome.eq(None::<String>),
            activities::recording_url.eq(None::<String>),
        ))
        .execute(conn)?;
    diesel::update(campaign_recipients::table.filter(campaign_recipients::client_id.eq(id)))
        .set((campaign_recipients::address.eq("purged"), campaign_recipients::detail.eq(None::<String>)))
        .execute(conn)?;
    diesel::update(campaign_recipient_events::table.filter(campaign_recipient_events::client_id.eq(id)))
        .set(campaign_recipient_events::detail.eq(None::<String>))
        .execute(conn)?;
    // The copies of the person's data in the event log and the outbox.
    let of_client = events_t::entity_type
        .eq(ENTITY)
        .and(events_t::entity_id.eq(id))
        .or(events_t::entity_type.eq("contact").and(events_t::entity_id.eq_any(contact_ids.clone())))
        .or(events_t::entity_type.eq("activity").and(events_t::entity_id.eq_any(activity_ids.clone())));
    let messages: Vec<Option<String>> =
        events_t::table.filter(of_client.clone()).select(events_t::message_id).load(conn)?;
    let messages: Vec<String> = messages.into_iter().flatten().collect();
    for chunk in messages.chunks(1000) {
        diesel::update(webhook_deliveries::table.filter(webhook_deliveries::message_id.eq_any(chunk)))
            .set(webhook_deliveries::payload.eq(PURGED))
            .execute(conn)?;
    }
    diesel::update(events_t::table.filter(of_client)).set(events_t::payload.eq(PURGED)).execute(conn)?;
    events::record(
        conn,
        origin,
        NewEvent {
            event_type: "client.purged",
            entity_type: ENTITY,
            entity_id: id,
            payload: serde_json::json!({ "id": id, "purged_at": at.and_utc() }).to_string(),
        },
    )?;
    Ok(())
}

/// What a reassignment moved, for the audit log.
pub fn reassign_summary(r: &Reassigned, filter: &Option<ReassignFilter>) -> serde_json::Value {
    serde_json::json!({
        "from_user_id": r.from_user_id,
        "to_user_id": r.to_user_id,
        "clients": r.clients,
        "deals": r.deals,
        "tasks": r.tasks,
        "filter": filter,
    })
}
