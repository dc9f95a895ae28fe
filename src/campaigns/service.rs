//! The rules of campaigns: a draft's validation (audience, template, provider), that only
//! drafts change, the launch (audience snapshot, consent and address checks, batches queued to
//! the provider, `campaign.launched`), the stats, and the provider's status callbacks: each
//! message once, statuses only forward, and what a report means for the client's card.

use std::collections::BTreeMap;

use diesel::QueryResult;

use super::model::{
    Audience, BatchRecipient, CallbackResult, Campaign, CampaignChannel, CampaignPatch, CampaignStats, NewCampaign,
    ProviderEvent, ProviderEvents, RecipientStatus, Target, MAX_EXPLICIT,
};
use super::repo::{self, ENTITY};
use crate::auth::Caller;
use crate::clients::model::{ClientFields, ClientRow, Email, Phone, PhoneType};
use crate::db::{now, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent, Origin};
use crate::webhooks::{self, deliveries, WebhookRow};

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
            let found = crate::segments::repo::exists(conn, id)?;
            errors.check(found, "audience.segment_id", "is not a segment");
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

pub fn create(conn: &mut DbConn, input: NewCampaign, caller: &Caller) -> Result<Campaign, ApiError> {
    let mut errors = FieldErrors::new();
    check(conn, &input.name, &input.audience, &input.template, &input.provider, &mut errors)?;
    errors.into_result()?;
    Ok(repo::insert(conn, &input, caller.origin().actor)?)
}

fn draft(conn: &mut DbConn, id: i64, expected: Option<i64>) -> Result<Campaign, ApiError> {
    let current = repo::get(conn, id)?;
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
    let values = NewCampaign {
        name,
        channel: current.channel,
        audience,
        subject: patch.subject.or(current.subject),
        template,
        merge_fields: patch.merge_fields.unwrap_or(current.merge_fields),
        provider,
        scheduled_at: patch.scheduled_at.or(current.scheduled_at),
    };
    repo::update(conn, id, current.version, &values)
}

pub fn delete(conn: &mut DbConn, id: i64) -> Result<(), ApiError> {
    draft(conn, id, None)?;
    repo::delete(conn, id)?;
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

/// Launches a draft: snapshots the audience, queues the batches, records `campaign.launched`.
/// A second launch finds the campaign launched and changes nothing.
pub fn launch(conn: &mut DbConn, id: i64, batch_size: usize, caller: &Caller) -> Result<Campaign, ApiError> {
    let at = now();
    // Taking the campaign out of draft first makes concurrent launches race for one row.
    let taken = repo::take_draft(conn, id, at)?;
    if taken == 0 {
        repo::get(conn, id)?;
        return Err(ApiError::Conflict("the campaign was launched already: nothing is sent twice".into()));
    }
    let campaign = repo::get(conn, id)?;
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
    let mut found = repo::live_clients(conn, &wanted)?;
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
    let recipient_ids = repo::insert_recipients(conn, id, &chosen, batch_size, at)?;
    let merge = repo::merge_values(conn, &chosen.iter().map(|(c, _)| *c).collect::<Vec<_>>(), &campaign.merge_fields)?;
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
    repo::set_skipped(conn, id, &skipped, at)?;
    let campaign = repo::get(conn, id)?;
    let payload = events::payload_with(&campaign, serde_json::json!({ "recipients": chosen.len() }));
    events::record(
        conn,
        &caller.origin(),
        NewEvent { event_type: "campaign.launched", entity_type: ENTITY, entity_id: id, payload },
    )?;
    Ok(campaign)
}

/// Counts per status and the rates a mailing is judged by.
pub fn stats(conn: &mut DbConn, id: i64) -> Result<CampaignStats, ApiError> {
    let campaign = repo::get(conn, id)?;
    let counts = repo::status_counts(conn, id)?;
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

/// Applies a provider's signed status message (once per message id): each recipient's status
/// moves forward only, every move is recorded with an event, and the card bears the
/// consequences.
pub fn apply_provider_events(
    conn: &mut DbConn,
    provider: &WebhookRow,
    message_id: &str,
    input: ProviderEvents,
) -> Result<CallbackResult, ApiError> {
    let mut errors = FieldErrors::new();
    errors.check(input.events.len() <= 1000, "events", "at most 1000 events per message");
    errors.into_result()?;
    let fresh = repo::record_message(conn, &provider.name, message_id);
    match fresh {
        Ok(_) => {}
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            return Ok(CallbackResult { processed: 0, ignored: 0, duplicate: true })
        }
        Err(e) => return Err(e.into()),
    }
    let ids: Vec<i64> = input.events.iter().map(|e| e.recipient_id).collect();
    let mut targets = repo::targets(conn, &ids, &provider.name)?;
    let caller = Caller::system(Some(format!("provider:{}", provider.name)), &provider.name);
    let origin = caller.origin();
    let (mut processed, mut ignored) = (0, 0);
    for e in input.events {
        let Some(target) = targets.get_mut(&e.recipient_id) else {
            ignored += 1;
            continue;
        };
        if e.status <= RecipientStatus::parse(&target.status) {
            ignored += 1;
            continue;
        }
        let at = e.occurred_at.map_or_else(now, |t| t.naive_utc());
        let detail = e.reason.as_deref().map(|r| r.chars().take(500).collect::<String>());
        repo::set_status(conn, target, e.status, at, &detail)?;
        events::record(
            conn,
            &origin,
            NewEvent {
                event_type: "campaign.recipient_status_changed",
                entity_type: ENTITY,
                entity_id: target.campaign_id,
                payload: serde_json::json!({
                    "campaign_id": target.campaign_id,
                    "recipient_id": target.id,
                    "client_id": target.client_id,
                    "from": target.status,
                    "status": e.status,
                    "occurred_at": at.and_utc(),
                    "reason": detail,
                })
                .to_string(),
            },
        )?;
        consequences(conn, target, &e, &origin)?;
        target.status = e.status.as_str().to_string();
        processed += 1;
    }
    Ok(CallbackResult { processed, ignored, duplicate: false })
}

/// What a report means for the client card: no more mailings after an unsubscribe or a
/// complaint; a hard bounce makes the address invalid.
fn consequences(conn: &mut DbConn, target: &Target, e: &ProviderEvent, origin: &Origin) -> Result<(), ApiError> {
    let withdraw = matches!(e.status, RecipientStatus::Unsubscribed | RecipientStatus::Complained);
    let invalid = e.status == RecipientStatus::Bounced && e.hard;
    if !withdraw && !invalid {
        return Ok(());
    }
    let client = match crate::clients::repo::get(conn, target.client_id, None) {
        Ok(c) => c,
        Err(ApiError::NotFound) => return Ok(()),
        Err(other) => return Err(other),
    };
    let mut fields = ClientFields::from_client(&client);
    if withdraw {
        fields.mailing_consent = false;
    }
    if invalid {
        for email in fields.emails.iter_mut().filter(|m| m.address == target.address) {
            email.invalid = true;
        }
    }
    crate::clients::repo::update(conn, &client, &fields, origin)?;
    Ok(())
}
