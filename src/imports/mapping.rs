//! Columns to card fields: the vocabulary of targets, the guess from Russian and English
//! headers, the settings' validation (naming the field path), and turning one row's cells
//! into a draft of a card. Pure: what it needs of the database comes in [`Lookups`].

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use crate::clients::model::{
    normalise_emails, normalise_phones, Address, AddressType, ClientKind, ClientPatch, ClientStatus, CounterpartyRole,
    Email, EmailType, Phone, PhoneType,
};
use crate::contacts::model::ContactPatch;
use crate::error::{ApiError, FieldError, FieldErrors};

use super::model::{ImportEntity, ImportSettings};

/// A card field a column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    LegalName,
    Inn,
    Kind,
    Status,
    LostReason,
    Channel,
    Region,
    Industry,
    Source,
    Owner,
    Tags,
    Notes,
    Phones,
    Emails,
    Address,
    MailingConsent,
    EstimatedPotential,
    Roles,
}

crate::text_enum!(Field {
    Name = "name",
    LegalName = "legal_name",
    Inn = "inn",
    Kind = "kind",
    Status = "status",
    LostReason = "lost_reason",
    Channel = "channel",
    Region = "region",
    Industry = "industry",
    Source = "source",
    Owner = "owner",
    Tags = "tags",
    Notes = "notes",
    Phones = "phones",
    Emails = "emails",
    Address = "address",
    MailingConsent = "mailing_consent",
    EstimatedPotential = "estimated_potential",
    Roles = "roles",
});

/// A contact person's field a column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactField {
    Name,
    Position,
    IsDecisionMaker,
    Phones,
    Emails,
    Birthday,
    Preferences,
    Notes,
}

crate::text_enum!(ContactField {
    Name = "name",
    Position = "position",
    IsDecisionMaker = "is_decision_maker",
    Phones = "phones",
    Emails = "emails",
    Birthday = "birthday",
    Preferences = "preferences",
    Notes = "notes",
});

/// A sale's field a column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleField {
    SoldOn,
    Amount,
    Cost,
    Margin,
    Currency,
    DocumentNumber,
}

crate::text_enum!(SaleField {
    SoldOn = "sold_on",
    Amount = "amount",
    Cost = "cost",
    Margin = "margin",
    Currency = "currency",
    DocumentNumber = "document_number",
});

/// What a column is mapped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Field(Field),
    ExternalId(String),
    Custom(String),
    Ignore,
    /// A key of the client a contact or sale belongs to (`client.inn`, `client.name`…).
    Client(Box<Target>),
    Contact(ContactField),
    Sale(SaleField),
    /// The sale's own external id in a source.
    SaleKey(String),
}

pub const IGNORE: &str = "ignore";

/// The client fields a contact's or sale's row may find its client by.
const CLIENT_KEYS: &[Field] = &[Field::Name, Field::Inn, Field::Region, Field::Phones, Field::Emails];

impl Target {
    /// A target of the entity's vocabulary.
    pub fn parse_for(entity: ImportEntity, s: &str) -> Option<Target> {
        if entity == ImportEntity::Clients || s == IGNORE {
            return Target::parse(s);
        }
        if let Some(key) = s.strip_prefix("client.") {
            return match Target::parse(key)? {
                t @ Target::ExternalId(_) => Some(Target::Client(Box::new(t))),
                Target::Field(f) if CLIENT_KEYS.contains(&f) => Some(Target::Client(Box::new(Target::Field(f)))),
                _ => None,
            };
        }
        match entity {
            ImportEntity::Contacts => match s.strip_prefix("custom_fields.") {
                Some(key) => valid_key(key, 64).then(|| Target::Custom(key.to_string())),
                None => ContactField::parse(s).map(Target::Contact),
            },
            _ => match s.strip_prefix("external_id:") {
                Some(source) => valid_key(source, 50).then(|| Target::SaleKey(source.to_string())),
                None => SaleField::parse(s).map(Target::Sale),
            },
        }
    }

    pub fn parse(s: &str) -> Option<Target> {
        if s == IGNORE {
            return Some(Target::Ignore);
        }
        if let Some(source) = s.strip_prefix("external_id:") {
            return valid_key(source, 50).then(|| Target::ExternalId(source.to_string()));
        }
        if let Some(key) = s.strip_prefix("custom_fields.") {
            return valid_key(key, 64).then(|| Target::Custom(key.to_string()));
        }
        Field::parse(s).map(Target::Field)
    }
}

fn valid_key(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// How a row finds its card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchKey {
    Inn,
    Phone,
    Email,
    ExternalId(String),
    NameRegion,
    /// The name alone: for files that name clients without a region.
    Name,
}

impl MatchKey {
    pub fn parse(s: &str) -> Option<MatchKey> {
        match s {
            "inn" => Some(MatchKey::Inn),
            "phone" => Some(MatchKey::Phone),
            "email" => Some(MatchKey::Email),
            "name_region" => Some(MatchKey::NameRegion),
            "name" => Some(MatchKey::Name),
            _ => s.strip_prefix("external_id:").filter(|k| valid_key(k, 50)).map(|k| MatchKey::ExternalId(k.into())),
        }
    }

    pub fn label(&self) -> String {
        match self {
            MatchKey::Inn => "inn".into(),
            MatchKey::Phone => "phone".into(),
            MatchKey::Email => "email".into(),
            MatchKey::NameRegion => "name_region".into(),
            MatchKey::Name => "name".into(),
            MatchKey::ExternalId(s) => format!("external_id:{s}"),
        }
    }
}

/// A header as compared: lowercase, ё as е, punctuation dropped, spaces collapsed.
fn header_key(header: &str) -> String {
    let lowered = header.to_lowercase().replace('ё', "е");
    let kept: String = lowered
        .chars()
        .filter_map(|c| match c {
            '-' | '.' | '*' | ':' | '№' | '"' | '«' | '»' => None,
            c if c.is_alphanumeric() => Some(c),
            _ => Some(' '),
        })
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

const GUESSES: &[(&str, &[&str])] = &[
    (
        "name",
        &[
            "наименование",
            "название",
            "контрагент",
            "клиент",
            "компания",
            "организация",
            "фио",
            "name",
            "company",
            "client",
            "company name",
            "краткое наименование",
        ],
    ),
    ("legal_name", &["полное наименование", "юридическое наименование", "legal name", "full name"]),
    ("inn", &["инн", "inn", "tax id", "taxpayer id"]),
    ("phones", &["телефон", "тел", "телефоны", "мобильный", "моб телефон", "phone", "phones", "tel", "telephone"]),
    ("emails", &["email", "почта", "эл почта", "электронная почта", "emails", "mail", "адрес эл почты"]),
    ("region", &["регион", "город", "region", "city", "область"]),
    ("channel", &["канал", "канал продаж", "channel", "sales channel"]),
    ("owner", &["менеджер", "ответственный", "owner", "manager", "ответственный менеджер"]),
    ("status", &["статус", "status", "состояние"]),
    ("tags", &["теги", "метки", "тег", "tags", "labels"]),
    ("industry", &["отрасль", "сфера", "сфера деятельности", "industry", "вид деятельности"]),
    ("source", &["источник", "source", "откуда пришел"]),
    ("notes", &["примечание", "комментарий", "заметки", "notes", "comment", "comments", "описание"]),
    ("address", &["адрес", "address", "фактический адрес"]),
    ("kind", &["тип", "вид", "тип клиента", "kind", "type"]),
    ("estimated_potential", &["потенциал", "potential", "оценка потенциала", "estimated potential"]),
    ("mailing_consent", &["согласие на рассылку", "рассылка", "mailing consent", "consent"]),
    ("lost_reason", &["причина потери", "причина ухода", "lost reason"]),
    ("roles", &["роль", "роли", "тип контрагента", "вид контрагента", "roles", "role", "counterparty type"]),
];

/// The usual headers of a contacts file: the person's fields and the company's keys.
const CONTACT_GUESSES: &[(&str, &[&str])] = &[
    (
        "name",
        &["фио", "контактное лицо", "контакт", "имя", "сотрудник", "name", "contact", "contact name", "full name"],
    ),
    ("position", &["должность", "position", "title", "job title"]),
    ("is_decision_maker", &["лпр", "лицо принимающее решение", "принимает решение", "decision maker"]),
    ("phones", &["телефон", "тел", "телефоны", "мобильный", "моб телефон", "phone", "phones", "mobile"]),
    ("emails", &["email", "почта", "эл почта", "электронная почта", "emails", "mail"]),
    ("birthday", &["день рождения", "дата рождения", "birthday", "date of birth"]),
    ("preferences", &["предпочтения", "интересы", "preferences"]),
    ("notes", &["примечание", "комментарий", "заметки", "notes", "comment"]),
    ("client.name", &["компания", "организация", "контрагент", "клиент", "company", "organization", "client"]),
    ("client.inn", &["инн", "инн компании", "инн клиента", "инн контрагента", "inn", "company inn"]),
    ("client.region", &["регион", "город", "region", "city"]),
];

/// The usual headers of a sales file: the purchase's fields and the client's keys.
const SALE_GUESSES: &[(&str, &[&str])] = &[
    ("sold_on", &["дата", "дата продажи", "дата документа", "дата отгрузки", "период", "date", "sold on", "sale date"]),
    ("amount", &["сумма", "выручка", "сумма продажи", "сумма с ндс", "amount", "revenue", "total", "sum"]),
    ("cost", &["себестоимость", "закупочная стоимость", "cost"]),
    ("margin", &["маржа", "валовая прибыль", "прибыль", "margin", "gross profit"]),
    ("currency", &["валюта", "currency"]),
    (
        "document_number",
        &["номер документа", "номер", "документ", "номер накладной", "document", "document number", "invoice"],
    ),
    (
        "client.name",
        &["клиент", "контрагент", "покупатель", "компания", "организация", "client", "customer", "company"],
    ),
    ("client.inn", &["инн", "инн клиента", "инн покупателя", "инн контрагента", "inn"]),
    ("client.region", &["регион", "город", "region", "city"]),
];

fn known(entity: ImportEntity) -> &'static [(&'static str, &'static [&'static str])] {
    match entity {
        ImportEntity::Clients => GUESSES,
        ImportEntity::Contacts => CONTACT_GUESSES,
        ImportEntity::Sales => SALE_GUESSES,
    }
}

/// The field a header names, if it is one of the usual ones or a custom field's label.
pub fn guess(header: &str, custom_labels: &[(String, String)]) -> Option<String> {
    guess_for(ImportEntity::Clients, header, custom_labels)
}

/// [`guess`] in the vocabulary of the entity: ids of other systems name the client of a
/// contact's or sale's row.
pub fn guess_for(entity: ImportEntity, header: &str, custom_labels: &[(String, String)]) -> Option<String> {
    let key = header_key(header);
    for (field, names) in known(entity) {
        if names.iter().any(|n| header_key(n) == key) {
            return Some(field.to_string());
        }
    }
    if let Some((k, _)) = custom_labels.iter().find(|(k, label)| header_key(label) == key || header_key(k) == key) {
        return Some(format!("custom_fields.{k}"));
    }
    if let Some(rest) = key.strip_prefix("id ").or_else(|| key.strip_prefix("код ")) {
        let source: String = rest.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        if !source.is_empty() {
            let prefix = if entity == ImportEntity::Clients { "" } else { "client." };
            return Some(format!("{prefix}external_id:{source}"));
        }
    }
    None
}

/// The guessed mapping of every header: a column nothing matches is ignored; a field two
/// columns look like goes to the first. `fields` are the entity's custom fields.
pub fn guess_all(
    entity: ImportEntity,
    headers: &[String],
    fields: &crate::custom_fields::Schema,
) -> BTreeMap<String, String> {
    let labels: Vec<(String, String)> =
        fields.fields.iter().filter(|d| !d.archived).map(|d| (d.key.clone(), d.label.clone())).collect();
    let mut taken: Vec<String> = Vec::new();
    headers
        .iter()
        .map(|h| {
            let target = guess_for(entity, h, &labels).filter(|t| !taken.contains(t));
            if let Some(t) = &target {
                taken.push(t.clone());
            }
            (h.clone(), target.unwrap_or_else(|| IGNORE.into()))
        })
        .collect()
}

const VALUE_FIELDS: &[&str] = &["status", "kind", "channel", "mailing_consent", "roles"];

/// Checks the settings against the file's headers; every problem names its field path.
/// `fields` are the entity's custom fields.
pub fn validate(
    entity: ImportEntity,
    settings: &ImportSettings,
    headers: &[String],
    fields: &crate::custom_fields::Schema,
) -> Result<(), ApiError> {
    use super::model::ImportMode;
    let noun = match entity {
        ImportEntity::Clients => "client",
        ImportEntity::Contacts => "contact",
        ImportEntity::Sales => "sale",
    };
    let mut errors = FieldErrors::new();
    let mut targets: Vec<Target> = Vec::new();
    for (column, target) in &settings.mapping {
        let path = format!("mapping.{column}");
        if !headers.contains(column) {
            errors.add(path, "the file has no such column");
            continue;
        }
        match Target::parse_for(entity, target) {
            None => errors.add(path, format!("'{target}' is not a {noun} field (see the mapping's description)")),
            Some(Target::Ignore) => {}
            Some(Target::Custom(key)) if fields.get(&key).is_none_or(|d| d.archived) => {
                errors.add(path, format!("'{key}' is not a defined {noun} custom field (see /custom-fields)"))
            }
            Some(t) if targets.contains(&t) => errors.add(path, format!("'{target}' is mapped from two columns")),
            Some(Target::SaleKey(_)) if targets.iter().any(|t| matches!(t, Target::SaleKey(_))) => {
                errors.add(path, "a sale has one external id column")
            }
            Some(t) => targets.push(t),
        }
    }
    if entity == ImportEntity::Clients {
        if settings.match_on.is_empty() && settings.mode != ImportMode::Create {
            errors.add("match_on", "at least one way to match a card is needed to update");
        }
    } else {
        errors.check(!settings.match_on.is_empty(), "match_on", "at least one way to find each row's client is needed");
        errors.check(
            targets.iter().any(|t| matches!(t, Target::Client(_))),
            "mapping",
            "map a column to client.inn, client.name, client.external_id:<source>… to find each row's client",
        );
    }
    if entity != ImportEntity::Clients && settings.defaults != super::model::ImportDefaults::default() {
        errors.add("defaults", format!("defaults apply to new clients; an import of {noun}s creates none"));
    }
    if entity == ImportEntity::Sales && settings.mode == ImportMode::Update {
        errors.check(
            targets.iter().any(|t| matches!(t, Target::SaleKey(_))),
            "mode",
            "updating sales needs their external_id:<source> column",
        );
    }
    for (i, key) in settings.match_on.iter().enumerate() {
        if MatchKey::parse(key).is_none() {
            errors.add(
                format!("match_on[{i}]"),
                format!("'{key}' is not inn, phone, email, name_region, name or external_id:<source>"),
            );
        }
    }
    for (field, map) in &settings.values {
        // A custom field's map turns cell texts into texts the field reads (option labels…).
        if let Some(key) = field.strip_prefix("custom_fields.") {
            if fields.get(key).is_none_or(|d| d.archived) {
                errors.add(format!("values.{field}"), format!("'{key}' is not a defined {noun} custom field"));
            }
            continue;
        }
        if entity != ImportEntity::Clients {
            errors.add(format!("values.{field}"), format!("value maps of {noun}s are kept for custom_fields.<key>"));
            continue;
        }
        if !VALUE_FIELDS.contains(&field.as_str()) {
            errors.add(
                format!("values.{field}"),
                "value maps are kept for status, kind, channel, mailing_consent, roles and custom_fields.<key>",
            );
            continue;
        }
        for (text, value) in map {
            let ok = match field.as_str() {
                "status" => ClientStatus::parse(value).is_some(),
                "kind" => ClientKind::parse(value).is_some(),
                "mailing_consent" => value == "true" || value == "false",
                "roles" => CounterpartyRole::parse(value).is_some(),
                _ => !value.trim().is_empty(),
            };
            errors.check(ok, format_args!("values.{field}.{text}"), format_args!("'{value}' is not a {field} value"));
        }
    }
    for (i, tag) in settings.defaults.tags.iter().enumerate() {
        let n = tag.trim().chars().count();
        errors.check((1..=50).contains(&n), format_args!("defaults.tags[{i}]"), "must be 1 to 50 characters");
    }
    errors.into_result()
}

/// The active users and channels a row may name, read once per run.
#[derive(Debug, Default)]
pub struct Lookups {
    users_by_email: HashMap<String, i64>,
    users_by_name: HashMap<String, Vec<i64>>,
    channels: HashMap<String, String>,
    pub region: Option<phonenumber::country::Id>,
    /// The client custom fields, whose cells are read by type.
    pub fields: crate::custom_fields::Schema,
}

impl Lookups {
    /// `users`: (id, email, name) of active users; `channels`: (code, name) of active channels.
    pub fn new(
        users: Vec<(i64, String, String)>,
        channels: Vec<(String, String)>,
        region: phonenumber::country::Id,
        fields: crate::custom_fields::Schema,
    ) -> Lookups {
        let mut l = Lookups { region: Some(region), fields, ..Lookups::default() };
        for (id, email, name) in users {
            l.users_by_email.insert(email.to_lowercase(), id);
            l.users_by_name.entry(header_key(&name)).or_default().push(id);
        }
        for (code, name) in channels {
            l.channels.insert(header_key(&name), code.clone());
            l.channels.insert(code.to_lowercase(), code);
        }
        l
    }

    /// An owner by email, else by name; two users of that name make it ambiguous.
    pub fn owner(&self, text: &str) -> Result<i64, String> {
        if let Some(id) = self.users_by_email.get(&text.trim().to_lowercase()) {
            return Ok(*id);
        }
        match self.users_by_name.get(&header_key(text)).map(Vec::as_slice) {
            Some([id]) => Ok(*id),
            Some([_, _, ..]) => Err(format!("'{text}' is the name of several users: give the email")),
            _ => Err(format!("'{text}' is not an active user's email or name")),
        }
    }

    /// Whether `code` is an active channel's code.
    pub fn has_channel(&self, code: &str) -> bool {
        self.channels.get(&code.to_lowercase()).is_some_and(|c| c == code)
    }

    fn channel(&self, text: &str) -> Option<String> {
        self.channels.get(&text.to_lowercase()).or_else(|| self.channels.get(&header_key(text))).cloned()
    }
}

/// One row as a card would take it: the fields its cells give (empty cells give nothing).
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub patch: ClientPatch,
    pub external_ids: BTreeMap<String, String>,
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// The contact or sale the row is, for those imports.
    pub record: Record,
    pub errors: Vec<FieldError>,
}

/// What a row is besides its card's fields: for imports of contacts and sales, the contact
/// person or the purchase (its `patch` then holds only keys of the client it belongs to).
#[derive(Debug, Clone, Default)]
pub enum Record {
    #[default]
    Card,
    Contact(ContactPatch),
    Sale(SaleCells),
}

/// A sale's cells, as text where the sales pipeline parses them (money).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SaleCells {
    pub sold_on: Option<NaiveDate>,
    pub amount: Option<String>,
    pub cost: Option<String>,
    pub margin: Option<String>,
    pub currency: Option<String>,
    pub document_number: Option<String>,
    /// `(source, id)`: the sale's own external id.
    pub key: Option<(String, String)>,
}

impl Draft {
    pub fn inn(&self) -> Option<&str> {
        self.patch.inn.as_ref().and_then(|v| v.as_deref())
    }

    pub fn phones(&self) -> Vec<String> {
        self.patch.phones.iter().flatten().map(|p| p.number.clone()).collect()
    }

    pub fn emails(&self) -> Vec<String> {
        self.patch.emails.iter().flatten().map(|e| e.address.clone()).collect()
    }

    /// The keys that make two rows of one file the same card (the same contact: an email or
    /// phone; the same sale: its external id, or else the same client, day, amount and number).
    pub fn identity(&self) -> Vec<String> {
        match &self.record {
            Record::Card => {}
            Record::Contact(c) => {
                let mut keys: Vec<String> = c.emails.iter().flatten().map(|e| format!("email {}", e.address)).collect();
                keys.extend(c.phones.iter().flatten().map(|p| format!("phone {}", p.number)));
                return keys;
            }
            Record::Sale(s) => {
                if let Some((source, id)) = &s.key {
                    return vec![format!("external_id:{source} {id}")];
                }
                return vec![format!(
                    "sale {:?} {:?} {:?} {:?} {:?} {:?}",
                    self.card_keys(),
                    self.patch.name,
                    s.sold_on,
                    s.amount,
                    s.document_number,
                    s.cost
                )];
            }
        }
        self.card_keys()
    }

    fn card_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.inn().map(|i| format!("inn {i}")).into_iter().collect();
        keys.extend(self.phones().into_iter().map(|p| format!("phone {p}")));
        keys.extend(self.emails().into_iter().map(|e| format!("email {e}")));
        keys.extend(self.external_ids.iter().map(|(s, id)| format!("external_id:{s} {id}")));
        keys
    }
}

/// Columns by position with their targets, the value maps and the lookups: turns rows into drafts.
pub struct Mapper<'a> {
    entity: ImportEntity,
    columns: Vec<(usize, Target)>,
    values: &'a BTreeMap<String, BTreeMap<String, String>>,
    lookups: &'a Lookups,
}

fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split([',', ';', '\n']).map(str::trim).filter(|s| !s.is_empty())
}

const STATUS_WORDS: &[(&str, &[&str])] = &[
    ("active", &["активный", "активен", "действующий", "клиент", "active", "customer"]),
    ("potential", &["потенциальный", "потенциал", "новый", "лид", "potential", "lead", "prospect"]),
    ("lost", &["потерян", "потерянный", "ушел", "ушедший", "lost", "churned"]),
];
const KIND_WORDS: &[(&str, &[&str])] = &[
    ("company", &["юрлицо", "юр лицо", "юридическое лицо", "юл", "организация", "компания", "company"]),
    ("person", &["физлицо", "физ лицо", "физическое лицо", "фл", "частное лицо", "person", "individual"]),
];
const ROLE_WORDS: &[(&str, &[&str])] = &[
    ("client", &["клиент", "покупатель", "заказчик", "client", "customer"]),
    ("supplier", &["поставщик", "supplier", "vendor"]),
    ("partner", &["партнер", "партнёр", "partner"]),
    ("competitor", &["конкурент", "competitor"]),
];
/// A date as spreadsheets write it: `2026-03-01`, `01.03.2026`, or a date-time's date.
fn cell_date(text: &str) -> Option<NaiveDate> {
    crate::custom_fields::values::date(text.split(['T', ' ']).next().unwrap_or(text))
}

/// Money as spreadsheets write it: `12 345,50 ₽` → `12345.50` (the sales pipeline checks it).
fn cell_money(text: &str) -> String {
    let kept: String = text
        .trim_end_matches(|c: char| c.is_alphabetic() || c == '₽' || c == '.' || c.is_whitespace())
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{a0}' && *c != '\u{202f}')
        .collect();
    kept.replace(',', ".")
}

/// A yes or a no as a cell writes it (да/нет, yes/no, 1/0, +/-).
fn yes_no(text: &str) -> Option<bool> {
    let key = header_key(text);
    if YES.contains(&key.as_str()) || text == "+" {
        Some(true)
    } else if NO.contains(&key.as_str()) || text == "-" {
        Some(false)
    } else {
        None
    }
}

fn fill_contact(c: &mut ContactPatch, field: ContactField, text: &str, errors: &mut FieldErrors) {
    let owned = Some(Some(text.to_string()));
    match field {
        ContactField::Name => c.name = Some(text.to_string()),
        ContactField::Position => c.position = owned,
        ContactField::Preferences => c.preferences = owned,
        ContactField::Notes => c.notes = owned,
        ContactField::IsDecisionMaker => match yes_no(text) {
            Some(b) => c.is_decision_maker = Some(b),
            None => errors.add("is_decision_maker", format!("'{text}' is not yes or no")),
        },
        ContactField::Birthday => match cell_date(text) {
            Some(d) => c.birthday = Some(Some(d)),
            None => errors.add("birthday", format!("'{text}' is not a date (2026-03-01 or 01.03.2026)")),
        },
        ContactField::Phones => {
            c.phones = Some(
                split_list(text).map(|n| Phone { number: n.to_string(), phone_type: PhoneType::default() }).collect(),
            )
        }
        ContactField::Emails => {
            c.emails = Some(
                split_list(text)
                    .map(|a| Email { address: a.to_string(), email_type: EmailType::default(), invalid: false })
                    .collect(),
            )
        }
    }
}

fn fill_sale(s: &mut SaleCells, field: SaleField, text: &str, errors: &mut FieldErrors) {
    match field {
        SaleField::SoldOn => match cell_date(text) {
            Some(d) => s.sold_on = Some(d),
            None => errors.add("sold_on", format!("'{text}' is not a date (2026-03-01 or 01.03.2026)")),
        },
        SaleField::Amount => s.amount = Some(cell_money(text)),
        SaleField::Cost => s.cost = Some(cell_money(text)),
        SaleField::Margin => s.margin = Some(cell_money(text)),
        SaleField::Currency => s.currency = Some(text.to_uppercase()),
        SaleField::DocumentNumber => s.document_number = Some(text.to_string()),
    }
}

const YES: &[&str] = &["да", "yes", "true", "1", "+", "есть", "согласен", "y"];
const NO: &[&str] = &["нет", "no", "false", "0", "-", "n"];

fn word<'w>(words: &[(&'w str, &[&str])], text: &str) -> Option<&'w str> {
    let key = header_key(text);
    words.iter().find(|(_, ws)| ws.iter().any(|w| header_key(w) == key)).map(|(v, _)| *v)
}

impl<'a> Mapper<'a> {
    pub fn new(
        entity: ImportEntity,
        settings: &'a ImportSettings,
        headers: &[String],
        lookups: &'a Lookups,
    ) -> Mapper<'a> {
        let columns = headers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| settings.mapping.get(h).and_then(|t| Target::parse_for(entity, t)).map(|t| (i, t)))
            .filter(|(_, t)| *t != Target::Ignore)
            .collect();
        Mapper { entity, columns, values: &settings.values, lookups }
    }

    /// The user's map for `field` first (exact text, then ignoring case), then the built-in words.
    fn mapped(&self, field: &str, text: &str) -> Option<String> {
        let map = self.values.get(field)?;
        map.get(text)
            .or_else(|| map.iter().find(|(k, _)| k.to_lowercase() == text.to_lowercase()).map(|(_, v)| v))
            .cloned()
    }

    pub fn draft(&self, cells: &[String]) -> Draft {
        let record = match self.entity {
            ImportEntity::Clients => Record::Card,
            ImportEntity::Contacts => Record::Contact(ContactPatch::default()),
            ImportEntity::Sales => Record::Sale(SaleCells::default()),
        };
        let mut d = Draft { record, ..Draft::default() };
        // The card's fields (for contacts and sales: their client's keys) and the record's own.
        let mut card = FieldErrors::new();
        let mut own = FieldErrors::new();
        for (i, target) in &self.columns {
            let Some(text) = cells.get(*i).map(|c| c.trim()).filter(|c| !c.is_empty()) else { continue };
            match target {
                Target::Client(inner) => self.fill_card(inner, text, &mut d, &mut card),
                Target::Contact(field) => {
                    if let Record::Contact(c) = &mut d.record {
                        fill_contact(c, *field, text, &mut own);
                    }
                }
                Target::Sale(field) => {
                    if let Record::Sale(s) = &mut d.record {
                        fill_sale(s, *field, text, &mut own);
                    }
                }
                Target::SaleKey(source) => {
                    if let Record::Sale(s) = &mut d.record {
                        s.key = Some((source.clone(), text.to_string()));
                    }
                }
                Target::Custom(key) => {
                    let field = format!("custom_fields.{key}");
                    let text = self.mapped(&field, text).unwrap_or_else(|| text.to_string());
                    let value = match self.lookups.fields.get(key) {
                        Some(def) => crate::custom_fields::values::from_text(def, &text),
                        None => Ok(serde_json::Value::String(text)),
                    };
                    match value {
                        Ok(v) => {
                            d.custom_fields.insert(key.clone(), v);
                        }
                        Err(message) => own.add(field, message),
                    }
                }
                t => self.fill_card(t, text, &mut d, &mut card),
            }
        }
        let p = &mut d.patch;
        if let Some(region) = self.lookups.region {
            if let Some(phones) = p.phones.as_mut() {
                normalise_phones(phones, "phones", region, &mut card);
            }
            if let Record::Contact(c) = &mut d.record {
                if let Some(phones) = c.phones.as_mut() {
                    normalise_phones(phones, "phones", region, &mut own);
                }
            }
        }
        if let Some(emails) = p.emails.as_mut() {
            normalise_emails(emails, "emails", &mut card);
        }
        if let Record::Contact(c) = &mut d.record {
            if let Some(emails) = c.emails.as_mut() {
                normalise_emails(emails, "emails", &mut own);
            }
        }
        if let Some(Some(inn)) = &p.inn {
            if let Err(message) = crate::normalize::inn::validate(inn) {
                card.add("inn", message);
            }
        }
        let prefix = if self.entity == ImportEntity::Clients { "" } else { "client." };
        d.errors =
            card.into_list().into_iter().map(|e| FieldError { field: format!("{prefix}{}", e.field), ..e }).collect();
        d.errors.extend(own.into_list());
        d
    }

    /// Fills a card's field (or, for contacts and sales, a key of their client) from a cell.
    fn fill_card(&self, target: &Target, text: &str, d: &mut Draft, errors: &mut FieldErrors) {
        let owned = Some(Some(text.to_string()));
        let p = &mut d.patch;
        match target {
            Target::ExternalId(source) => {
                d.external_ids.insert(source.clone(), text.to_string());
            }
            Target::Field(field) => match field {
                Field::Name => p.name = Some(text.to_string()),
                Field::LegalName => p.legal_name = owned,
                Field::Inn => p.inn = Some(Some(text.chars().filter(|c| !c.is_whitespace()).collect())),
                Field::LostReason => p.lost_reason = owned,
                Field::Region => p.region = owned,
                Field::Industry => p.industry = owned,
                Field::Source => p.source = owned,
                Field::Notes => p.notes = owned,
                Field::Kind => {
                    let v = self.mapped("kind", text).or_else(|| word(KIND_WORDS, text).map(String::from));
                    match v.as_deref().and_then(ClientKind::parse) {
                        Some(k) => p.kind = Some(k),
                        None => {
                            errors.add("kind", format!("'{text}' is not a kind (company or person; see values.kind)"))
                        }
                    }
                }
                Field::Status => {
                    let v = self.mapped("status", text).or_else(|| word(STATUS_WORDS, text).map(String::from));
                    match v.as_deref().and_then(ClientStatus::parse) {
                        Some(s) => p.status = Some(s),
                        None => errors.add(
                            "status",
                            format!("'{text}' is not a status (active, potential, lost; see values.status)"),
                        ),
                    }
                }
                Field::Channel => {
                    let code = self.mapped("channel", text).or_else(|| self.lookups.channel(text));
                    p.channel = Some(Some(code.unwrap_or_else(|| text.to_string())));
                }
                Field::Owner => match self.lookups.owner(text) {
                    Ok(id) => p.owner_id = Some(Some(id)),
                    Err(message) => errors.add("owner", message),
                },
                Field::Tags => p.tags = Some(split_list(text).map(String::from).collect()),
                Field::Phones => {
                    p.phones = Some(
                        split_list(text)
                            .map(|n| Phone { number: n.to_string(), phone_type: PhoneType::default() })
                            .collect(),
                    )
                }
                Field::Emails => {
                    p.emails = Some(
                        split_list(text)
                            .map(|a| Email { address: a.to_string(), email_type: EmailType::default(), invalid: false })
                            .collect(),
                    )
                }
                Field::Address => {
                    p.addresses = Some(vec![Address {
                        address_type: AddressType::default(),
                        line: text.to_string(),
                        city: None,
                        region: None,
                        postal_code: None,
                        country: None,
                    }])
                }
                Field::MailingConsent => {
                    let v = self.mapped("mailing_consent", text);
                    match v.as_deref() {
                        Some("true") => p.mailing_consent = Some(true),
                        Some("false") => p.mailing_consent = Some(false),
                        _ => match yes_no(text) {
                            Some(b) => p.mailing_consent = Some(b),
                            None => errors.add("mailing_consent", format!("'{text}' is not yes or no")),
                        },
                    }
                }
                Field::Roles => {
                    let mut roles = Vec::new();
                    for part in split_list(text) {
                        let v = self.mapped("roles", part).or_else(|| word(ROLE_WORDS, part).map(String::from));
                        match v.as_deref().and_then(CounterpartyRole::parse) {
                            Some(r) => roles.push(r),
                            None => errors.add(
                                "roles",
                                format!(
                                    "'{part}' is not a role (client, supplier, partner, competitor; see values.roles)"
                                ),
                            ),
                        }
                    }
                    p.roles = Some(roles);
                }
                Field::EstimatedPotential => {
                    let number: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                    p.estimated_potential = Some(Some(number.replace(',', ".")));
                }
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookups() -> Lookups {
        Lookups::new(
            vec![(2, "anna@example.com".into(), "Анна Петрова".into()), (3, "o@example.com".into(), "Олег".into())],
            vec![("retail".into(), "Розница".into())],
            phonenumber::country::Id::RU,
            crate::custom_fields::Schema::default(),
        )
    }

    #[test]
    fn russian_and_english_headers_are_guessed() {
        let headers: Vec<String> =
            ["Наименование", "ИНН", "Тел.", "E-mail", "Город", "Ответственный", "Статус", "Теги", "ID 1C", "Прочее"]
                .map(String::from)
                .to_vec();
        let m = guess_all(ImportEntity::Clients, &headers, &Default::default());
        assert_eq!(m["Наименование"], "name");
        assert_eq!(m["ИНН"], "inn");
        assert_eq!(m["Тел."], "phones");
        assert_eq!(m["E-mail"], "emails");
        assert_eq!(m["Город"], "region");
        assert_eq!(m["Ответственный"], "owner");
        assert_eq!(m["Статус"], "status");
        assert_eq!(m["Теги"], "tags");
        assert_eq!(m["ID 1C"], "external_id:1c");
        assert_eq!(m["Прочее"], "ignore");
        assert_eq!(guess("Контрагент", &[]).as_deref(), Some("name"));
        assert_eq!(
            guess("Сегмент рынка", &[("segment".into(), "Сегмент рынка".into())]).as_deref(),
            Some("custom_fields.segment")
        );
    }

    #[test]
    fn a_row_becomes_a_draft_with_its_errors() {
        let headers: Vec<String> =
            ["Название", "ИНН", "Телефон", "Менеджер", "Статус", "Канал", "Теги"].map(String::from).to_vec();
        let settings = ImportSettings {
            mapping: guess_all(ImportEntity::Clients, &headers, &Default::default()),
            ..ImportSettings::default()
        };
        let l = lookups();
        let mapper = Mapper::new(ImportEntity::Clients, &settings, &headers, &l);
        let row: Vec<String> = [
            "ООО Ромашка",
            "7707083893",
            "8 (916) 123-45-67, +7 916 123 45 67",
            "Анна Петрова",
            "Активный",
            "розница",
            "опт; vip",
        ]
        .map(String::from)
        .to_vec();
        let d = mapper.draft(&row);
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        assert_eq!(d.phones(), vec!["+79161234567"]);
        assert_eq!(d.patch.owner_id, Some(Some(2)));
        assert_eq!(d.patch.status, Some(ClientStatus::Active));
        assert_eq!(d.patch.channel, Some(Some("retail".into())));
        assert_eq!(d.patch.tags, Some(vec!["опт".to_string(), "vip".to_string()]));
        assert_eq!(d.identity(), vec!["inn 7707083893", "phone +79161234567"]);

        let bad: Vec<String> = ["", "7707083890", "12", "Никто", "Спящий", "", ""].map(String::from).to_vec();
        let fields: Vec<String> = mapper.draft(&bad).errors.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["owner", "status", "phones[0].number", "inn"]);
    }

    #[test]
    fn settings_are_checked_against_the_file() {
        let headers = vec!["A".to_string(), "B".to_string()];
        let mut s = ImportSettings::default();
        s.mapping.insert("A".into(), "name".into());
        s.mapping.insert("B".into(), "name".into());
        s.mapping.insert("C".into(), "inn".into());
        s.match_on.push("fax".into());
        s.values.insert("status".into(), [("Спит".to_string(), "asleep".to_string())].into());
        let ApiError::Validation(errors) =
            validate(ImportEntity::Clients, &s, &headers, &Default::default()).unwrap_err()
        else {
            panic!()
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["mapping.B", "mapping.C", "match_on[3]", "values.status.Спит"]);
        s.mapping.insert("B".into(), "custom_fields.segment".into());
        s.mapping.insert("A".into(), "shoe_size".into());
        let ApiError::Validation(errors) =
            validate(ImportEntity::Clients, &s, &headers, &Default::default()).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(errors[0].field, "mapping.A");
    }
}
