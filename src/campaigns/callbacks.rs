//! Status callbacks from a mailing provider, signed like our own webhooks with the provider
//! endpoint's secret. Each message is processed once (by its `webhook-id`); a recipient's status
//! only moves forward; unsubscribes and complaints withdraw the client's consent, hard bounces
//! mark the address invalid.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{RecipientStatus, ENTITY};
use crate::clients::model::ClientFields;
use crate::db::schema::{campaign_recipient_events, campaign_recipients, campaigns, provider_messages};
use crate::db::{now, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent, Origin};
use crate::webhooks::WebhookRow;

/// One status report about one recipient.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderEvent {
    /// The `recipient_id` from the batch.
    pub recipient_id: i64,
    pub status: RecipientStatus,
    /// When it happened at the provider (default: now).
    pub occurred_at: Option<DateTime<Utc>>,
    /// The provider's explanation (bounce reason…).
    pub reason: Option<String>,
    /// For bounces: a permanent failure of the address.
    #[serde(default)]
    pub hard: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderEvents {
    #[schema(max_items = 1000)]
    pub events: Vec<ProviderEvent>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallbackResult {
    /// Status changes applied.
    pub processed: usize,
    /// Reports about unknown recipients, other providers' recipients, or older statuses.
    pub ignored: usize,
    /// True when this message was processed before; nothing was done again.
    pub duplicate: bool,
}

#[derive(Queryable)]
struct Target {
    id: i64,
    campaign_id: i64,
    client_id: i64,
    address: String,
    status: String,
}

pub fn apply(
    conn: &mut DbConn,
    provider: &WebhookRow,
    message_id: &str,
    input: ProviderEvents,
) -> Result<CallbackResult, ApiError> {
    let mut errors = FieldErrors::new();
    errors.check(input.events.len() <= 1000, "events", "at most 1000 events per message");
    errors.into_result()?;
    let fresh = diesel::insert_into(provider_messages::table)
        .values((
            provider_messages::provider.eq(&provider.name),
            provider_messages::message_id.eq(message_id),
            provider_messages::received_at.eq(now()),
        ))
        .execute(conn);
    match fresh {
        Ok(_) => {}
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            return Ok(CallbackResult { processed: 0, ignored: 0, duplicate: true })
        }
        Err(e) => return Err(e.into()),
    }
    let ids: Vec<i64> = input.events.iter().map(|e| e.recipient_id).collect();
    let mut targets: HashMap<i64, Target> = campaign_recipients::table
        .inner_join(campaigns::table)
        .filter(campaign_recipients::id.eq_any(&ids))
        .filter(campaigns::provider.eq(&provider.name))
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
        .collect();
    let origin = Origin { actor: Some(format!("provider:{}", provider.name)), source: provider.name.clone() };
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
        diesel::update(campaign_recipients::table.find(target.id))
            .set((
                campaign_recipients::status.eq(e.status.as_str()),
                campaign_recipients::status_at.eq(at),
                campaign_recipients::detail.eq(&detail),
            ))
            .execute(conn)?;
        diesel::insert_into(campaign_recipient_events::table)
            .values((
                campaign_recipient_events::recipient_id.eq(target.id),
                campaign_recipient_events::campaign_id.eq(target.campaign_id),
                campaign_recipient_events::client_id.eq(target.client_id),
                campaign_recipient_events::status.eq(e.status.as_str()),
                campaign_recipient_events::occurred_at.eq(at),
                campaign_recipient_events::detail.eq(&detail),
            ))
            .execute(conn)?;
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
