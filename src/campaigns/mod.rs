//! Campaigns: a personal mailing to a segment or a list of clients through a mailing provider.
//! Launching snapshots the audience into recipients — only clients with consent and a usable
//! address — and queues them to the provider in signed batches through the outbox. The
//! provider's status callbacks update each recipient, the client's consent and its addresses.

pub mod api;
pub mod callbacks;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clients::model::{ClientRow, Email, Phone, PhoneType};
use crate::db::schema::{campaign_recipients, campaigns, clients, contacts, users};
use crate::db::{now, Db, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent, Origin};
use crate::pagination::{page_from, Cursor, KeyValue, Page};
use crate::versioning::AtReadVersion;
use crate::webhooks::{self, deliveries};
use crate::with_backend;

pub const ENTITY: &str = "campaign";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = campaigns)]
pub struct CampaignRow {
    pub id: i64,
    pub name: String,
    pub channel: String,
    pub segment_id: Option<i64>,
    pub client_ids: Option<String>,
    pub subject: Option<String>,
    pub template: String,
    pub merge_fields: String,
    pub provider: String,
    pub scheduled_at: Option<NaiveDateTime>,
    pub status: String,
    pub launched_at: Option<NaiveDateTime>,
    pub skipped: Option<String>,
    pub created_by: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignChannel {
    Email,
    Sms,
}

crate::text_enum!(CampaignChannel { Email = "email", Sms = "sms" } else Email);

/// Per-recipient values a template can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergeField {
    Name,
    LegalName,
    Region,
    Industry,
    /// The owning manager's name.
    OwnerName,
    /// The decision maker's (or first contact person's) name.
    ContactName,
}

/// Recipient statuses, from queued to the provider's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecipientStatus {
    Queued,
    Sent,
    Delivered,
    Opened,
    Clicked,
    Failed,
    Bounced,
    Complained,
    Unsubscribed,
}

crate::text_enum!(RecipientStatus {
    Queued = "queued",
    Sent = "sent",
    Delivered = "delivered",
    Opened = "opened",
    Clicked = "clicked",
    Failed = "failed",
    Bounced = "bounced",
    Complained = "complained",
    Unsubscribed = "unsubscribed",
} else Queued);

/// Who gets the campaign: a segment, evaluated at launch, or an explicit list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    pub segment_id: Option<i64>,
    pub client_ids: Option<Vec<i64>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub channel: CampaignChannel,
    pub audience: Audience,
    pub subject: Option<String>,
    /// The template's reference at the provider.
    pub template: String,
    pub merge_fields: Vec<MergeField>,
    /// The name of the mailing-provider webhook.
    pub provider: String,
    /// Batches are handed to the provider from then on.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// `draft` until launched, then `launched`.
    pub status: String,
    pub launched_at: Option<DateTime<Utc>>,
    /// Clients left out at launch, by reason (`no_consent`, `no_address`, `not_found`).
    pub skipped: BTreeMap<String, i64>,
    pub created_by: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CampaignRow> for Campaign {
    fn from(r: CampaignRow) -> Campaign {
        Campaign {
            id: r.id,
            name: r.name,
            channel: CampaignChannel::parse(&r.channel),
            audience: Audience {
                segment_id: r.segment_id,
                client_ids: r.client_ids.as_deref().and_then(|s| serde_json::from_str(s).ok()),
            },
            subject: r.subject,
            template: r.template,
            merge_fields: serde_json::from_str(&r.merge_fields).unwrap_or_default(),
            provider: r.provider,
            scheduled_at: r.scheduled_at.map(|t| t.and_utc()),
            status: r.status,
            launched_at: r.launched_at.map(|t| t.and_utc()),
            skipped: r.skipped.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default(),
            created_by: r.created_by,
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub channel: CampaignChannel,
    pub audience: Audience,
    pub subject: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub template: String,
    #[serde(default)]
    pub merge_fields: Vec<MergeField>,
    /// A webhook configured as a mailing provider.
    pub provider: String,
    pub scheduled_at: Option<DateTime<Utc>>,
}

/// Changes to a draft campaign.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub audience: Option<Audience>,
    pub subject: Option<String>,
    pub template: Option<String>,
    pub merge_fields: Option<Vec<MergeField>>,
    pub provider: Option<String>,
    pub scheduled_at: Option<DateTime<Utc>>,
}

const MAX_EXPLICIT: usize = 10_000;

fn check(
    conn: &mut DbConn,
    name: &str,
    audience: &Audience,
    template: &str,
    provider: &str,
    errors: &mut FieldErrors,
) -> QueryResult<()> {
    let n = name.trim().chars().count();
    errors.check((1..=200).contains(&n), "name", "must be 1 to 200 characters");
    let t = template.trim().chars().count();
    errors.check((1..=200).contains(&t), "template", "must be 1 to 200 characters");
    match (audience.segment_id, &audience.client_ids) {
        (Some(_), Some(_)) | (None, None) => errors.add("audience", "give either segment_id or client_ids"),
        (Some(id), None) => {
            let found: i64 = crate::db::schema::segments::table.find(id).count().get_result(conn)?;
            errors.check(found > 0, "audience.segment_id", "is not a segment");
        }
        (None, Some(ids)) => {
            errors.check(
                !ids.is_empty() && ids.len() <= MAX_EXPLICIT,
                "audience.client_ids",
                format_args!("must list 1 to {MAX_EXPLICIT} clients"),
            );
        }
    }
    match webhooks::by_name(conn, provider)? {
        Some(w) if w.mailing_provider => {}
        Some(_) => errors.add("provider", format!("webhook '{provider}' is not configured as a mailing provider")),
        None => errors.add("provider", format!("there is no webhook named '{provider}'")),
    }
    Ok(())
}

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

pub fn create(conn: &mut DbConn, input: NewCampaign, origin: &Origin) -> Result<Campaign, ApiError> {
    let mut errors = FieldErrors::new();
    check(conn, &input.name, &input.audience, &input.template, &input.provider, &mut errors)?;
    errors.into_result()?;
    let at = now();
    let row: CampaignRow = diesel::insert_into(campaigns::table)
        .values((
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
            campaigns::created_by.eq(origin.actor.clone()),
            campaigns::version.eq(1i64),
            campaigns::created_at.eq(at),
            campaigns::updated_at.eq(at),
        ))
        .returning(campaigns::all_columns)
        .get_result(conn)?;
    Ok(row.into())
}

fn draft(conn: &mut DbConn, id: i64, expected: Option<i64>) -> Result<Campaign, ApiError> {
    let current = get(conn, id)?;
    crate::versioning::expect(expected, current.version)?;
    if current.status != "draft" {
        return Err(ApiError::Conflict("the campaign was launched: it can no longer change".into()));
    }
    Ok(current)
}

pub fn update(conn: &mut DbConn, id: i64, patch: CampaignPatch, expected: Option<i64>) -> Result<Campaign, ApiError> {
    let current = draft(conn, id, expected)?;
    let name = patch.name.unwrap_or(current.name);
    let audience = patch.audience.unwrap_or(current.audience);
    let template = patch.template.unwrap_or(current.template);
    let provider = patch.provider.unwrap_or(current.provider);
    let mut errors = FieldErrors::new();
    check(conn, &name, &audience, &template, &provider, &mut errors)?;
    errors.into_result()?;
    let row: CampaignRow =
        diesel::update(campaigns::table.filter(campaigns::id.eq(id)).filter(campaigns::version.eq(current.version)))
            .set((
                campaigns::name.eq(name.trim()),
                campaigns::segment_id.eq(audience.segment_id),
                campaigns::client_ids
                    .eq(audience.client_ids.as_ref().map(|ids| serde_json::to_string(ids).unwrap_or_default())),
                campaigns::subject.eq(patch.subject.or(current.subject)),
                campaigns::template.eq(template.trim()),
                campaigns::merge_fields
                    .eq(serde_json::to_string(&patch.merge_fields.unwrap_or(current.merge_fields)).unwrap_or_default()),
                campaigns::provider.eq(&provider),
                campaigns::scheduled_at.eq(patch.scheduled_at.or(current.scheduled_at).map(|t| t.naive_utc())),
                campaigns::version.eq(current.version + 1),
                campaigns::updated_at.eq(now()),
            ))
            .returning(campaigns::all_columns)
            .get_result(conn)
            .at_read_version()?;
    Ok(row.into())
}

pub fn delete(conn: &mut DbConn, id: i64) -> Result<(), ApiError> {
    draft(conn, id, None)?;
    diesel::delete(campaigns::table.find(id)).execute(conn)?;
    Ok(())
}

/// The address a campaign reaches a client at, if any: the first valid email, or a mobile
/// phone (else any phone) for SMS.
fn address_of(c: &ClientRow, channel: CampaignChannel) -> Option<String> {
    match channel {
        CampaignChannel::Email => {
            let emails: Vec<Email> = serde_json::from_str(&c.emails).unwrap_or_default();
            emails.into_iter().find(|e| !e.invalid).map(|e| e.address)
        }
        CampaignChannel::Sms => {
            let phones: Vec<Phone> = serde_json::from_str(&c.phones).unwrap_or_default();
            phones
                .iter()
                .find(|p| p.phone_type == PhoneType::Mobile)
                .or_else(|| phones.first())
                .map(|p| p.number.clone())
        }
    }
}

/// The merge values of many clients, in three queries.
fn merge_values(
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

/// One recipient in a batch handed to the provider.
#[derive(Debug, Serialize)]
struct BatchRecipient<'a> {
    recipient_id: i64,
    client_id: i64,
    address: &'a str,
    merge_fields: &'a BTreeMap<String, Option<String>>,
}

/// Launches a draft: snapshots the audience, queues the batches, records `campaign.launched`.
/// A second launch finds the campaign launched and changes nothing.
pub fn launch(conn: &mut DbConn, id: i64, batch_size: usize, origin: &Origin) -> Result<Campaign, ApiError> {
    let at = now();
    // Taking the campaign out of draft first makes concurrent launches race for one row.
    let taken = diesel::update(campaigns::table.filter(campaigns::id.eq(id)).filter(campaigns::status.eq("draft")))
        .set((
            campaigns::status.eq("launched"),
            campaigns::launched_at.eq(Some(at)),
            campaigns::version.eq(campaigns::version + 1),
        ))
        .execute(conn)?;
    if taken == 0 {
        get(conn, id)?;
        return Err(ApiError::Conflict("the campaign was launched already: nothing is sent twice".into()));
    }
    let campaign = get(conn, id)?;
    let provider = webhooks::by_name(conn, &campaign.provider)?
        .filter(|w| w.mailing_provider)
        .ok_or_else(|| ApiError::Conflict(format!("the provider '{}' is gone", campaign.provider)))?;
    let wanted: Vec<i64> = match (&campaign.audience.segment_id, &campaign.audience.client_ids) {
        (Some(segment), _) => {
            let s = crate::segments::repo::get(conn, *segment)?;
            crate::segments::service::members(conn, &s.filter, None)?
        }
        (None, Some(ids)) => ids.clone(),
        (None, None) => Vec::new(),
    };
    let mut skipped: BTreeMap<String, i64> = BTreeMap::new();
    let mut found: Vec<ClientRow> = Vec::with_capacity(wanted.len());
    for chunk in wanted.chunks(1000) {
        found.extend(
            clients::table
                .filter(clients::id.eq_any(chunk))
                .filter(clients::deleted_at.is_null())
                .load::<ClientRow>(conn)?,
        );
    }
    found.sort_by_key(|c| c.id);
    let mut distinct = wanted.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() > found.len() {
        skipped.insert("not_found".into(), (distinct.len() - found.len()) as i64);
    }
    let mut chosen: Vec<(&ClientRow, String)> = Vec::new();
    for c in &found {
        if !c.mailing_consent {
            *skipped.entry("no_consent".into()).or_default() += 1;
        } else if let Some(address) = address_of(c, campaign.channel) {
            chosen.push((c, address));
        } else {
            *skipped.entry("no_address".into()).or_default() += 1;
        }
    }
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
        with_backend!(conn, |c| diesel::insert_into(campaign_recipients::table).values(chunk).execute(c))?;
    }
    let recipient_ids: HashMap<i64, i64> = campaign_recipients::table
        .filter(campaign_recipients::campaign_id.eq(id))
        .select((campaign_recipients::client_id, campaign_recipients::id))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let merge = merge_values(conn, &chosen.iter().map(|(c, _)| *c).collect::<Vec<_>>(), &campaign.merge_fields)?;
    let empty = BTreeMap::new();
    let not_before = campaign.scheduled_at.map(|t| t.naive_utc()).filter(|t| *t > at).unwrap_or(at);
    let mut outgoing = Vec::new();
    for (n, batch) in chosen.chunks(batch_size).enumerate() {
        let recipients: Vec<BatchRecipient<'_>> = batch
            .iter()
            .map(|(c, address)| BatchRecipient {
                recipient_id: recipient_ids.get(&c.id).copied().unwrap_or_default(),
                client_id: c.id,
                address,
                merge_fields: merge.get(&c.id).unwrap_or(&empty),
            })
            .collect();
        let data = serde_json::json!({
            "campaign_id": id,
            "campaign": campaign.name,
            "channel": campaign.channel,
            "subject": campaign.subject,
            "template": campaign.template,
            "batch": n,
            "batches": chosen.len().div_ceil(batch_size),
            "recipients": recipients,
        });
        outgoing.push(deliveries::Outgoing {
            webhook_id: provider.id,
            message_id: format!("msg_campaign_{id}_{n}"),
            event_type: "campaign.recipients",
            body: webhooks::envelope("campaign.recipients", at, &data.to_string()),
            not_before,
        });
    }
    deliveries::enqueue(conn, &outgoing)?;
    diesel::update(campaigns::table.find(id))
        .set((
            campaigns::skipped.eq(Some(serde_json::to_string(&skipped).unwrap_or_default())),
            campaigns::updated_at.eq(at),
        ))
        .execute(conn)?;
    let campaign = get(conn, id)?;
    let payload = events::payload_with(&campaign, serde_json::json!({ "recipients": chosen.len() }));
    events::record(
        conn,
        origin,
        NewEvent { event_type: "campaign.launched", entity_type: ENTITY, entity_id: id, payload },
    )?;
    Ok(campaign)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = campaign_recipients)]
pub struct RecipientRow {
    pub id: i64,
    pub campaign_id: i64,
    pub client_id: i64,
    pub address: String,
    pub batch: i32,
    pub status: String,
    pub status_at: NaiveDateTime,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Recipient {
    pub id: i64,
    pub campaign_id: i64,
    pub client_id: i64,
    pub address: String,
    /// Which batch carried it to the provider, from 0.
    pub batch: i32,
    pub status: RecipientStatus,
    pub status_at: DateTime<Utc>,
    /// The provider's explanation of the last status.
    pub detail: Option<String>,
}

impl From<RecipientRow> for Recipient {
    fn from(r: RecipientRow) -> Recipient {
        Recipient {
            id: r.id,
            campaign_id: r.campaign_id,
            client_id: r.client_id,
            address: r.address,
            batch: r.batch,
            status: RecipientStatus::parse(&r.status),
            status_at: r.status_at.and_utc(),
            detail: r.detail,
        }
    }
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

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CampaignStats {
    pub campaign_id: i64,
    pub recipients: i64,
    /// Recipients by current status.
    pub by_status: BTreeMap<String, i64>,
    pub skipped: BTreeMap<String, i64>,
    /// Reached the inbox (delivered, opened, clicked, complained or unsubscribed) / recipients.
    pub delivery_rate: f64,
    /// Opened or clicked / reached.
    pub open_rate: f64,
    /// Clicked / reached.
    pub click_rate: f64,
    /// Bounced / recipients.
    pub bounce_rate: f64,
    /// Unsubscribed / reached.
    pub unsubscribe_rate: f64,
}

pub fn stats(conn: &mut DbConn, id: i64) -> Result<CampaignStats, ApiError> {
    let campaign = get(conn, id)?;
    let counts: Vec<(String, i64)> = campaign_recipients::table
        .filter(campaign_recipients::campaign_id.eq(id))
        .group_by(campaign_recipients::status)
        .select((campaign_recipients::status, diesel::dsl::count_star()))
        .load(conn)?;
    let by_status: BTreeMap<String, i64> = RecipientStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), counts.iter().find(|(k, _)| k == s.as_str()).map_or(0, |(_, n)| *n)))
        .collect();
    let n = |keys: &[RecipientStatus]| keys.iter().map(|k| by_status[k.as_str()]).sum::<i64>();
    use RecipientStatus::*;
    let total = by_status.values().sum::<i64>();
    let reached = n(&[Delivered, Opened, Clicked, Complained, Unsubscribed]);
    let rate = |a: i64, b: i64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(CampaignStats {
        campaign_id: id,
        recipients: total,
        delivery_rate: rate(reached, total),
        open_rate: rate(n(&[Opened, Clicked]), reached),
        click_rate: rate(n(&[Clicked]), reached),
        bounce_rate: rate(n(&[Bounced]), total),
        unsubscribe_rate: rate(n(&[Unsubscribed]), reached),
        by_status,
        skipped: campaign.skipped,
    })
}
