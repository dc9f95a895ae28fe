//! Campaigns' types: the stored campaign and recipient rows, the channel, merge field and
//! recipient status enums, the campaign, its inputs, recipients and stats as the API shows
//! them, the batch entries handed to the provider and the provider's status callbacks.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{campaign_recipients, campaigns};

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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    pub segment_id: Option<i64>,
    pub client_ids: Option<Vec<i64>>,
}

/// The most clients an explicit audience lists.
pub const MAX_EXPLICIT: usize = 10_000;

/// Exactly one of `segment_id` and `client_ids` (1 to [`MAX_EXPLICIT`]), the other absent or
/// `null`, as `campaigns::service` checks.
impl utoipa::PartialSchema for Audience {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        let null = || ObjectBuilder::new().schema_type(Type::Null);
        let segment = ObjectBuilder::new()
            .property(
                "segment_id",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64))),
            )
            .required("segment_id")
            .property("client_ids", null());
        let listed =
            ObjectBuilder::new()
                .property("segment_id", null())
                .property(
                    "client_ids",
                    ArrayBuilder::new()
                        .items(ObjectBuilder::new().schema_type(Type::Integer).format(Some(
                            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Int64),
                        )))
                        .min_items(Some(1))
                        .max_items(Some(MAX_EXPLICIT)),
                )
                .required("client_ids");
        let closed = |o: ObjectBuilder| {
            o.schema_type(Type::Object)
                .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)))
        };
        OneOfBuilder::new()
            .description(Some("Who gets the campaign: a segment, evaluated at launch, or an explicit list."))
            .item(closed(segment))
            .item(closed(listed))
            .into()
    }
}

impl utoipa::ToSchema for Audience {}

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
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    pub channel: CampaignChannel,
    pub audience: Audience,
    pub subject: Option<String>,
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
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
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    pub audience: Option<Audience>,
    pub subject: Option<String>,
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub template: Option<String>,
    pub merge_fields: Option<Vec<MergeField>>,
    pub provider: Option<String>,
    pub scheduled_at: Option<DateTime<Utc>>,
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

/// One recipient in a batch handed to the provider.
#[derive(Debug, Serialize)]
pub(crate) struct BatchRecipient<'a> {
    pub recipient_id: i64,
    pub client_id: i64,
    pub address: &'a str,
    pub merge_fields: &'a BTreeMap<String, Option<String>>,
}

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

/// A recipient a status report may be about, with the campaign and client it belongs to.
#[derive(Queryable)]
pub(crate) struct Target {
    pub id: i64,
    pub campaign_id: i64,
    pub client_id: i64,
    pub address: String,
    pub status: String,
}
