//! Custom field definitions as stored and as the API shows them, their inputs, and the tests a
//! filter puts to a field's values.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::custom_fields;

/// What carries the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomEntity {
    Client,
    Contact,
    Deal,
}
crate::text_enum!(CustomEntity { Client = "client", Contact = "contact", Deal = "deal" });

/// The type of a field's values, as they are written in the entity's `custom_fields` object:
/// `text`, `url`, `email` and `phone` as strings (emails lowercased, phones in E.164), `number`
/// as a whole JSON number, `decimal` as a decimal string (`"1250.50"`), `date` as `YYYY-MM-DD`,
/// `boolean` as `true`/`false`, `select` as one option code and `multiselect` as a list of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Number,
    Decimal,
    Date,
    Boolean,
    Select,
    Multiselect,
    Url,
    Email,
    Phone,
}
crate::text_enum!(FieldType {
    Text = "text",
    Number = "number",
    Decimal = "decimal",
    Date = "date",
    Boolean = "boolean",
    Select = "select",
    Multiselect = "multiselect",
    Url = "url",
    Email = "email",
    Phone = "phone",
} else Text);

impl FieldType {
    pub fn has_options(self) -> bool {
        matches!(self, FieldType::Select | FieldType::Multiselect)
    }

    /// Types whose values are ordered, so filters may ask for a range.
    pub fn is_ordered(self) -> bool {
        matches!(self, FieldType::Number | FieldType::Decimal | FieldType::Date)
    }

    /// Types a unique constraint makes sense for (one value each, compared exactly).
    pub fn can_be_unique(self) -> bool {
        !matches!(self, FieldType::Boolean | FieldType::Select | FieldType::Multiselect)
    }
}

/// One choice of a `select` or `multiselect` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldOption {
    /// Stable code written in the values: a lowercase latin letter, then letters, digits and `_`.
    #[schema(min_length = 1, max_length = 50, pattern = "^[a-z][a-z0-9_]*$")]
    pub code: String,
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub label: String,
    /// An archived option stays on the records that have it but cannot be chosen anew.
    #[serde(default)]
    pub archived: bool,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = custom_fields)]
pub struct DefinitionRow {
    pub id: i64,
    pub entity: String,
    pub field_key: String,
    pub label: String,
    pub field_type: String,
    pub options: String,
    pub required: bool,
    pub is_unique: bool,
    pub filterable: bool,
    pub archived: bool,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A custom field of clients, contacts or deals.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Definition {
    pub id: i64,
    pub entity: CustomEntity,
    /// The key in the entity's `custom_fields` object; snake_case, never changes.
    pub key: String,
    /// What people see, and the column header imports recognise.
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// The choices of `select` and `multiselect` fields (empty for the other types).
    pub options: Vec<FieldOption>,
    /// Records written after this is set must have a value.
    pub required: bool,
    /// No two live records share a value; the database enforces it.
    pub unique: bool,
    /// May be filtered on in lists (`?cf.<key>=`), segments and automations.
    pub filterable: bool,
    /// Kept readable on the records but no longer written, required or filtered on.
    pub archived: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DefinitionRow> for Definition {
    fn from(r: DefinitionRow) -> Definition {
        Definition {
            id: r.id,
            entity: CustomEntity::parse(&r.entity).unwrap_or(CustomEntity::Client),
            key: r.field_key,
            label: r.label,
            field_type: FieldType::parse(&r.field_type),
            options: serde_json::from_str(&r.options).unwrap_or_default(),
            required: r.required,
            unique: r.is_unique,
            filterable: r.filterable,
            archived: r.archived,
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

impl Definition {
    pub fn option(&self, code: &str) -> Option<&FieldOption> {
        self.options.iter().find(|o| o.code == code)
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDefinition {
    pub entity: CustomEntity,
    /// snake_case: a lowercase latin letter, then letters, digits and `_` (at most 50).
    #[schema(min_length = 1, max_length = 50, pattern = "^[a-z][a-z0-9_]*$")]
    pub key: String,
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Required for `select` and `multiselect`.
    #[serde(default)]
    #[schema(max_items = 500)]
    pub options: Vec<FieldOption>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub filterable: bool,
}

/// Changes to a definition; `entity`, `key` and `type` never change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinitionPatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub label: Option<String>,
    /// The whole list of options: an option in use can be archived, not left out.
    #[schema(max_items = 500)]
    pub options: Option<Vec<FieldOption>>,
    pub required: Option<bool>,
    pub unique: Option<bool>,
    pub filterable: Option<bool>,
    pub archived: Option<bool>,
}

/// What a filter asks of one field: any of the values, and for numbers, decimals and dates a
/// range (bounds included). Values are written as text, the way a query string carries them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldTest {
    /// The field has one of these values (for a multiselect: one of these options).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any_of: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<String>,
}

/// Tests by field key, all of which must hold.
pub type FieldTests = BTreeMap<String, FieldTest>;

/// A [`FieldTest`] checked against the field's definition and turned into the terms of the
/// value index.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub key: String,
    /// Index values, any of which matches.
    pub values: Vec<String>,
    pub range: Option<Range>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Range {
    /// On the `number` column (numbers and decimals).
    Number(Option<f64>, Option<f64>),
    /// On the value text (dates, which sort as `YYYY-MM-DD`).
    Text(Option<String>, Option<String>),
}
