//! The client card: its row, the shapes the API reads and writes, and their validation.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::clients;
use crate::error::FieldErrors;
use crate::money;
use crate::normalize::email::{looks_like_email, normalize_email};
use crate::normalize::phone::normalize_phone;
use crate::patch::double_option;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub legal_name: Option<String>,
    pub inn: Option<String>,
    pub status: String,
    pub lost_reason: Option<String>,
    pub channel: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub source: Option<String>,
    pub owner_id: Option<i64>,
    pub tags: String,
    pub notes: Option<String>,
    pub custom_fields: String,
    pub phones: String,
    pub emails: String,
    pub addresses: String,
    pub mailing_consent: bool,
    pub estimated_potential: Option<i64>,
    pub search_text: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub first_purchase_on: Option<NaiveDate>,
    pub last_purchase_on: Option<NaiveDate>,
    pub purchase_count: i64,
    pub purchase_days: i64,
    pub revenue_total: i64,
    pub margin_total: i64,
    pub name_key: Option<String>,
    pub roles: String,
}

const LEGAL_FORMS: [&str; 14] =
    ["ооо", "оао", "зао", "пао", "ао", "нао", "ип", "гк", "тд", "llc", "ltd", "inc", "гуп", "муп"];

/// The lowercase words of `text`, `ё` read as `е`, split at spaces, quotes and punctuation.
fn words(text: &str) -> Vec<String> {
    let lowered = text.to_lowercase().replace('ё', "е");
    lowered.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// Words without the legal forms among them, joined.
fn without_forms(words: &[String]) -> String {
    words.iter().map(String::as_str).filter(|w| !LEGAL_FORMS.contains(w)).collect::<Vec<_>>().join(" ")
}

/// The name duplicate detection compares: its words without legal forms (ООО, ИП, АО…).
pub fn name_key(name: &str) -> String {
    without_forms(&words(name))
}

/// What a `q` term is compared by: its words, without the legal forms among them when there
/// are other words (`ООО «Ромашка»` looks for `ромашка`, `ИП` for `ип`).
pub fn search_key(term: &str) -> String {
    let words = words(term);
    match without_forms(&words) {
        key if key.is_empty() => words.join(" "),
        key => key,
    }
}

/// The columns a card's names give: its name key, and the text the trigram index holds — the
/// words of its names (legal forms kept, so that a term of legal forms only finds them) and its
/// INN, one field per line so that a term cannot match across two. Phones and emails are
/// searched through their contact points. The text is never empty for a live card: an empty
/// search text marks a purged one.
pub fn name_columns(name: &str, legal_name: Option<&str>, inn: Option<&str>) -> (String, String) {
    let words = words(name);
    let named = words.join(" ");
    let mut parts = vec![if named.is_empty() { name.trim().to_lowercase() } else { named }];
    parts.extend(legal_name.map(|n| self::words(n).join(" ")).filter(|w| !w.is_empty()));
    parts.extend(inn.map(str::to_string));
    (without_forms(&words), parts.join("\n"))
}

/// Figures derived from the client's purchases, kept current as sales are recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PurchaseFigures {
    pub first_purchase_on: Option<NaiveDate>,
    pub last_purchase_on: Option<NaiveDate>,
    pub purchase_count: i64,
    /// All-time revenue, a decimal amount.
    pub revenue: String,
    /// All-time margin, a decimal amount.
    pub margin: String,
    /// Average days between purchase days: (last − first) / (distinct purchase days − 1);
    /// null with fewer than two purchase days.
    pub average_interval_days: Option<f64>,
}

impl PurchaseFigures {
    pub fn of(r: &ClientRow) -> PurchaseFigures {
        PurchaseFigures {
            first_purchase_on: r.first_purchase_on,
            last_purchase_on: r.last_purchase_on,
            purchase_count: r.purchase_count,
            revenue: money::format_minor(r.revenue_total),
            margin: money::format_minor(r.margin_total),
            average_interval_days: average_interval(r.first_purchase_on, r.last_purchase_on, r.purchase_days),
        }
    }
}

/// (last − first) / (days − 1): the mean gap between consecutive distinct purchase days.
pub fn average_interval(first: Option<NaiveDate>, last: Option<NaiveDate>, days: i64) -> Option<f64> {
    match (first, last) {
        (Some(f), Some(l)) if days >= 2 => Some((l - f).num_days() as f64 / (days - 1) as f64),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    Company,
    Person,
}

/// Active (has a contract and buys), potential (a known target, not buying yet) or lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientStatus {
    Active,
    Potential,
    Lost,
}

crate::text_enum!(ClientKind { Company = "company", Person = "person" });

/// What a counterparty is to the company; a card may have several roles. Client analytics,
/// campaigns and automations take the cards with the `client` role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CounterpartyRole {
    Client,
    Supplier,
    Partner,
    Competitor,
}

crate::text_enum!(CounterpartyRole {
    Client = "client",
    Supplier = "supplier",
    Partner = "partner",
    Competitor = "competitor",
});

/// Roles as stored: sorted, comma-separated.
pub fn roles_text(roles: &[CounterpartyRole]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
}

pub fn parse_roles(text: &str) -> Vec<CounterpartyRole> {
    let roles: Vec<CounterpartyRole> = text.split(',').filter_map(CounterpartyRole::parse).collect();
    if roles.is_empty() {
        vec![CounterpartyRole::Client]
    } else {
        roles
    }
}

fn default_roles() -> Vec<CounterpartyRole> {
    vec![CounterpartyRole::Client]
}
crate::text_enum!(ClientStatus { Active = "active", Potential = "potential", Lost = "lost" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum PhoneType {
    #[default]
    Work,
    Mobile,
    Home,
    Fax,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmailType {
    #[default]
    Work,
    Personal,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum AddressType {
    Legal,
    #[default]
    Actual,
    Delivery,
    Other,
}

/// A phone number; stored in E.164 (`+74852123456`) whatever format it was sent in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    /// At least five digits.
    #[schema(example = "+74852123456", pattern = "[0-9]([^0-9]*[0-9]){4}")]
    pub number: String,
    #[serde(rename = "type", default)]
    pub phone_type: PhoneType,
}

/// An email address; stored lowercased.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Email {
    #[schema(example = "info@romashka.ru")]
    pub address: String,
    #[serde(rename = "type", default)]
    pub email_type: EmailType,
    /// Set when mail to the address bounced hard; campaigns skip invalid addresses.
    #[serde(default)]
    pub invalid: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(rename = "type", default)]
    pub address_type: AddressType,
    /// Street, building, office; not blank.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub line: String,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
}

/// The client card as the API returns it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Client {
    pub id: i64,
    pub kind: ClientKind,
    /// `client` unless said otherwise; also `supplier`, `partner`, `competitor`.
    pub roles: Vec<CounterpartyRole>,
    pub name: String,
    pub legal_name: Option<String>,
    /// Taxpayer number (ИНН), checksum-validated.
    pub inn: Option<String>,
    pub status: ClientStatus,
    pub lost_reason: Option<String>,
    /// A channel code from `/channels`.
    pub channel: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub source: Option<String>,
    pub owner_id: Option<i64>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// One id per source system, e.g. `{"1c": "a1b2…"}`.
    pub external_ids: BTreeMap<String, String>,
    pub phones: Vec<Phone>,
    pub emails: Vec<Email>,
    pub addresses: Vec<Address>,
    pub mailing_consent: bool,
    /// Estimated yearly potential, a decimal amount.
    #[schema(example = "150000.00")]
    pub estimated_potential: Option<String>,
    pub purchases: PurchaseFigures,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Client {
    /// A card just inserted with these fields (nothing derived yet).
    pub fn new_card(id: i64, f: &ClientFields, at: NaiveDateTime) -> Client {
        Client {
            id,
            kind: f.kind,
            roles: f.roles.clone(),
            name: f.name.clone(),
            legal_name: f.legal_name.clone(),
            inn: f.inn.clone(),
            status: f.status,
            lost_reason: f.lost_reason.clone(),
            channel: f.channel.clone(),
            region: f.region.clone(),
            industry: f.industry.clone(),
            source: f.source.clone(),
            owner_id: f.owner_id,
            tags: f.tags.clone(),
            notes: f.notes.clone(),
            custom_fields: f.custom_fields.clone(),
            external_ids: f.external_ids.clone(),
            phones: f.phones.clone(),
            emails: f.emails.clone(),
            addresses: f.addresses.clone(),
            mailing_consent: f.mailing_consent,
            estimated_potential: f.estimated_potential.map(money::format_minor),
            purchases: PurchaseFigures {
                first_purchase_on: None,
                last_purchase_on: None,
                purchase_count: 0,
                revenue: money::format_minor(0),
                margin: money::format_minor(0),
                average_interval_days: None,
            },
            version: 1,
            created_at: at.and_utc(),
            updated_at: at.and_utc(),
        }
    }

    pub fn from_row(r: ClientRow, external_ids: BTreeMap<String, String>) -> Client {
        let purchases = PurchaseFigures::of(&r);
        Client {
            purchases,
            id: r.id,
            kind: ClientKind::parse(&r.kind).unwrap_or(ClientKind::Company),
            roles: parse_roles(&r.roles),
            name: r.name,
            legal_name: r.legal_name,
            inn: r.inn,
            status: ClientStatus::parse(&r.status).unwrap_or(ClientStatus::Potential),
            lost_reason: r.lost_reason,
            channel: r.channel,
            region: r.region,
            industry: r.industry,
            source: r.source,
            owner_id: r.owner_id,
            tags: serde_json::from_str(&r.tags).unwrap_or_default(),
            notes: r.notes,
            custom_fields: serde_json::from_str(&r.custom_fields).unwrap_or_default(),
            external_ids,
            phones: serde_json::from_str(&r.phones).unwrap_or_default(),
            emails: serde_json::from_str(&r.emails).unwrap_or_default(),
            addresses: serde_json::from_str(&r.addresses).unwrap_or_default(),
            mailing_consent: r.mailing_consent,
            estimated_potential: r.estimated_potential.map(money::format_minor),
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// A new client. Only `name` is required.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    #[serde(default = "default_kind")]
    pub kind: ClientKind,
    /// Default `["client"]`.
    #[serde(default = "default_roles")]
    #[schema(min_items = 1)]
    pub roles: Vec<CounterpartyRole>,
    /// Not blank.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub name: String,
    #[schema(max_length = 500)]
    pub legal_name: Option<String>,
    /// 10 digits (an organisation) or 12 (an individual), with a valid check digit.
    #[schema(pattern = "^([0-9]{10}|[0-9]{12})$")]
    pub inn: Option<String>,
    #[serde(default = "default_status")]
    pub status: ClientStatus,
    /// Required when `status` is `lost`.
    #[schema(max_length = 500)]
    pub lost_reason: Option<String>,
    #[schema(max_length = 500)]
    pub channel: Option<String>,
    #[schema(max_length = 500)]
    pub region: Option<String>,
    #[schema(max_length = 500)]
    pub industry: Option<String>,
    #[schema(max_length = 500)]
    pub source: Option<String>,
    /// Defaults to the calling user; managers can only create clients they own.
    pub owner_id: Option<i64>,
    #[serde(default)]
    #[schema(schema_with = tags_schema)]
    pub tags: Vec<String>,
    #[schema(max_length = 20000)]
    pub notes: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    #[schema(schema_with = external_ids_schema)]
    pub external_ids: BTreeMap<String, String>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub phones: Vec<Phone>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub emails: Vec<Email>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub addresses: Vec<Address>,
    #[serde(default)]
    pub mailing_consent: bool,
    /// Not negative.
    #[schema(example = "150000.00", pattern = r"^[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub estimated_potential: Option<String>,
}

/// Tags: up to 50, each 1 to 50 characters once trimmed (stored lowercased, repeats dropped).
fn tags_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let tag =
        ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(50)).pattern(Some(r"\S"));
    ArrayBuilder::new().items(tag).max_items(Some(MAX_TAGS)).build()
}

/// Ids in other systems by source name: a name of 1 to 50 characters, an id of 1 to 200, not
/// blank.
pub(crate) fn external_ids_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let name = ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(50));
    crate::external_ids::schema(name).description(Some("Ids of the card in other systems, by source name")).build()
}

fn default_kind() -> ClientKind {
    ClientKind::Company
}

fn default_status() -> ClientStatus {
    ClientStatus::Potential
}

/// Changes to a client: only the fields sent are changed; `null` clears a field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub kind: Option<ClientKind>,
    #[schema(min_items = 1)]
    pub roles: Option<Vec<CounterpartyRole>>,
    /// Not blank.
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub legal_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, pattern = "^([0-9]{10}|[0-9]{12})$")]
    pub inn: Option<Option<String>>,
    pub status: Option<ClientStatus>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub lost_reason: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub channel: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub region: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub industry: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub source: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<i64>>,
    #[schema(schema_with = tags_schema)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 20000)]
    pub notes: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    #[schema(schema_with = external_ids_schema)]
    pub external_ids: Option<BTreeMap<String, String>>,
    #[schema(max_items = 20)]
    pub phones: Option<Vec<Phone>>,
    #[schema(max_items = 20)]
    pub emails: Option<Vec<Email>>,
    #[schema(max_items = 20)]
    pub addresses: Option<Vec<Address>>,
    pub mailing_consent: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, pattern = r"^[0-9]{1,13}(\.[0-9]{1,2})?$")]
    pub estimated_potential: Option<Option<String>>,
}

/// Every field of a card, validated and normalised: what gets written.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFields {
    pub kind: ClientKind,
    pub roles: Vec<CounterpartyRole>,
    pub name: String,
    pub legal_name: Option<String>,
    pub inn: Option<String>,
    pub status: ClientStatus,
    pub lost_reason: Option<String>,
    pub channel: Option<String>,
    pub region: Option<String>,
    pub industry: Option<String>,
    pub source: Option<String>,
    pub owner_id: Option<i64>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    pub external_ids: BTreeMap<String, String>,
    pub phones: Vec<Phone>,
    pub emails: Vec<Email>,
    pub addresses: Vec<Address>,
    pub mailing_consent: bool,
    pub estimated_potential: Option<i64>,
}

const MAX_TEXT: usize = 500;
const MAX_NOTES: usize = 20_000;
const MAX_ITEMS: usize = 20;
const MAX_TAGS: usize = 50;
const MAX_CUSTOM_FIELDS_BYTES: usize = 16 * 1024;

fn clean(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl ClientFields {
    /// Validates and normalises a new card; `potential` is the decimal text of the potential.
    pub fn from_new(input: NewClient, region: phonenumber::country::Id, errors: &mut FieldErrors) -> ClientFields {
        let potential = parse_potential(input.estimated_potential.as_deref(), errors);
        let mut fields = ClientFields {
            kind: input.kind,
            roles: input.roles,
            name: input.name.trim().to_string(),
            legal_name: clean(input.legal_name),
            inn: clean(input.inn),
            status: input.status,
            lost_reason: clean(input.lost_reason),
            channel: clean(input.channel),
            region: clean(input.region),
            industry: clean(input.industry),
            source: clean(input.source),
            owner_id: input.owner_id,
            tags: input.tags,
            notes: clean(input.notes),
            custom_fields: input.custom_fields.unwrap_or_default(),
            external_ids: input.external_ids,
            phones: input.phones,
            emails: input.emails,
            addresses: input.addresses,
            mailing_consent: input.mailing_consent,
            estimated_potential: potential,
        };
        fields.normalise(region, errors);
        fields
    }

    pub fn from_client(c: &Client) -> ClientFields {
        ClientFields {
            kind: c.kind,
            roles: c.roles.clone(),
            name: c.name.clone(),
            legal_name: c.legal_name.clone(),
            inn: c.inn.clone(),
            status: c.status,
            lost_reason: c.lost_reason.clone(),
            channel: c.channel.clone(),
            region: c.region.clone(),
            industry: c.industry.clone(),
            source: c.source.clone(),
            owner_id: c.owner_id,
            tags: c.tags.clone(),
            notes: c.notes.clone(),
            custom_fields: c.custom_fields.clone(),
            external_ids: c.external_ids.clone(),
            phones: c.phones.clone(),
            emails: c.emails.clone(),
            addresses: c.addresses.clone(),
            mailing_consent: c.mailing_consent,
            estimated_potential: c.estimated_potential.as_deref().and_then(|p| money::parse_minor(p).ok()),
        }
    }

    /// The card with `patch` applied, validated and normalised.
    pub fn patched(
        &self,
        patch: ClientPatch,
        region: phonenumber::country::Id,
        errors: &mut FieldErrors,
    ) -> ClientFields {
        let mut f = self.clone();
        let lost_reason_sent = patch.lost_reason.is_some();
        macro_rules! set {
            ($field:ident) => {
                if let Some(v) = patch.$field {
                    f.$field = v;
                }
            };
            ($field:ident, clean) => {
                if let Some(v) = patch.$field {
                    f.$field = clean(v);
                }
            };
        }
        set!(kind);
        set!(roles);
        set!(status);
        set!(owner_id);
        set!(tags);
        set!(external_ids);
        set!(phones);
        set!(emails);
        set!(addresses);
        set!(mailing_consent);
        set!(custom_fields);
        set!(legal_name, clean);
        set!(inn, clean);
        set!(lost_reason, clean);
        set!(channel, clean);
        set!(region, clean);
        set!(industry, clean);
        set!(source, clean);
        set!(notes, clean);
        if let Some(name) = patch.name {
            f.name = name.trim().to_string();
        }
        if let Some(p) = patch.estimated_potential {
            f.estimated_potential = parse_potential(p.as_deref(), errors);
        }
        // A client that is no longer lost keeps no lost reason.
        if f.status != ClientStatus::Lost && !lost_reason_sent {
            f.lost_reason = None;
        }
        f.normalise(region, errors);
        f
    }

    fn normalise(&mut self, region: phonenumber::country::Id, errors: &mut FieldErrors) {
        let len_ok = |s: &Option<String>| s.as_ref().is_none_or(|v| v.chars().count() <= MAX_TEXT);
        errors.check(!self.name.is_empty(), "name", "is required");
        errors.check(
            self.name.chars().count() <= MAX_TEXT,
            "name",
            format_args!("must be at most {MAX_TEXT} characters"),
        );
        for (field, value) in [
            ("legal_name", &self.legal_name),
            ("lost_reason", &self.lost_reason),
            ("channel", &self.channel),
            ("region", &self.region),
            ("industry", &self.industry),
            ("source", &self.source),
        ] {
            errors.check(len_ok(value), field, format_args!("must be at most {MAX_TEXT} characters"));
        }
        if self.notes.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTES) {
            errors.add("notes", format!("must be at most {MAX_NOTES} characters"));
        }
        if let Some(inn) = &self.inn {
            if let Err(message) = crate::normalize::inn::validate(inn) {
                errors.add("inn", message);
            }
        }
        if self.status == ClientStatus::Lost && self.lost_reason.is_none() {
            errors.add("lost_reason", "is required when status is lost");
        }
        if self.status != ClientStatus::Lost && self.lost_reason.is_some() {
            errors.add("lost_reason", "is only kept for lost clients");
        }

        self.roles.sort();
        self.roles.dedup();
        errors.check(!self.roles.is_empty(), "roles", "at least one role: client, supplier, partner or competitor");

        let mut tags: Vec<String> = Vec::new();
        for (i, tag) in self.tags.iter().enumerate() {
            let t = tag.trim().to_lowercase();
            if t.is_empty() || t.chars().count() > 50 {
                errors.add(format!("tags[{i}]"), "must be 1 to 50 characters");
            } else if !tags.contains(&t) {
                tags.push(t);
            }
        }
        errors.check(tags.len() <= MAX_TAGS, "tags", format_args!("at most {MAX_TAGS} tags"));
        self.tags = tags;

        for (source, id) in &self.external_ids {
            let ok = !source.is_empty()
                && source.chars().count() <= 50
                && !id.trim().is_empty()
                && id.chars().count() <= 200;
            errors.check(
                ok,
                format_args!("external_ids.{source}"),
                "source names and ids must be non-empty (50 and 200 characters at most)",
            );
        }
        if serde_json::to_string(&self.custom_fields).map_or(0, |s| s.len()) > MAX_CUSTOM_FIELDS_BYTES {
            errors.add("custom_fields", format!("must be at most {MAX_CUSTOM_FIELDS_BYTES} bytes of JSON"));
        }

        normalise_phones(&mut self.phones, "phones", region, errors);
        normalise_emails(&mut self.emails, "emails", errors);
        errors.check(self.addresses.len() <= MAX_ITEMS, "addresses", format_args!("at most {MAX_ITEMS} addresses"));
        for (i, a) in self.addresses.iter_mut().enumerate() {
            a.line = a.line.trim().to_string();
            errors.check(
                !a.line.is_empty() && a.line.chars().count() <= MAX_TEXT,
                format_args!("addresses[{i}].line"),
                "is required (at most 500 characters)",
            );
        }
    }

    pub fn phone_numbers(&self) -> Vec<String> {
        self.phones.iter().map(|p| p.number.clone()).collect()
    }

    pub fn email_addresses(&self) -> Vec<String> {
        self.emails.iter().map(|e| e.address.clone()).collect()
    }
}

fn parse_potential(value: Option<&str>, errors: &mut FieldErrors) -> Option<i64> {
    let value = value?;
    match money::parse_minor(value) {
        Ok(v) if v >= 0 => Some(v),
        Ok(_) => {
            errors.add("estimated_potential", "cannot be negative");
            None
        }
        Err(message) => {
            errors.add("estimated_potential", message);
            None
        }
    }
}

/// Normalises phones to E.164 and drops repeats; shared by clients and contact persons.
pub fn normalise_phones(
    phones: &mut Vec<Phone>,
    field: &str,
    region: phonenumber::country::Id,
    errors: &mut FieldErrors,
) {
    errors.check(phones.len() <= MAX_ITEMS, field, format_args!("at most {MAX_ITEMS} phones"));
    for (i, p) in phones.iter_mut().enumerate() {
        match normalize_phone(&p.number, region) {
            Ok(e164) => p.number = e164,
            Err(message) => errors.add(format!("{field}[{i}].number"), message),
        }
    }
    let mut seen: Vec<String> = Vec::new();
    phones.retain(|p| {
        let fresh = !seen.contains(&p.number);
        seen.push(p.number.clone());
        fresh
    });
}

/// Lowercases and checks emails and drops repeats; shared by clients and contact persons.
pub fn normalise_emails(emails: &mut Vec<Email>, field: &str, errors: &mut FieldErrors) {
    errors.check(emails.len() <= MAX_ITEMS, field, format_args!("at most {MAX_ITEMS} emails"));
    for (i, e) in emails.iter_mut().enumerate() {
        e.address = normalize_email(&e.address);
        if !looks_like_email(&e.address) {
            errors.add(format!("{field}[{i}].address"), "is not a valid email address");
        }
    }
    let mut seen: Vec<String> = Vec::new();
    emails.retain(|e| {
        let fresh = !seen.contains(&e.address);
        seen.push(e.address.clone());
        fresh
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_terms_are_compared_word_by_word() {
        assert_eq!(name_key("ООО ТД «Ёлки-Палки»"), "елки палки");
        assert_eq!(name_key("ИП"), "");
        assert_eq!(search_key("ИП"), "ип");
        assert_eq!(search_key("  «Ромашка», ООО. "), "ромашка");
        assert_eq!(search_key("%_"), "");
        let (key, text) = name_columns("АО «Берёзка»", Some("Берёзка-Юг"), Some("7707083893"));
        assert_eq!((key.as_str(), text.as_str()), ("березка", "ао березка\nберезка юг\n7707083893"));
        assert_eq!(name_columns("***", Some("—"), None), (String::new(), "***".to_string()));
    }
}
