//! Contact persons as stored and as the API reads and writes them: the row, the contact, the
//! create and change bodies, and the validated, normalised fields written.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clients::model::{normalise_emails, normalise_phones, Email, Phone};
use crate::db::schema::contacts;
use crate::error::{ApiError, FieldErrors};
use crate::patch::double_option;

pub const ENTITY: &str = "contact";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts)]
pub struct ContactRow {
    pub id: i64,
    pub client_id: i64,
    pub name: String,
    pub position: Option<String>,
    pub is_decision_maker: bool,
    pub phones: String,
    pub emails: String,
    pub birthday: Option<NaiveDate>,
    pub preferences: Option<String>,
    pub notes: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub custom_fields: String,
}

/// A contact person of a client.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contact {
    pub id: i64,
    pub client_id: i64,
    pub name: String,
    pub position: Option<String>,
    /// Decision maker (ЛПР).
    pub is_decision_maker: bool,
    pub phones: Vec<Phone>,
    pub emails: Vec<Email>,
    pub birthday: Option<NaiveDate>,
    /// Likes, dislikes, how they prefer to be contacted.
    pub preferences: Option<String>,
    pub notes: Option<String>,
    /// Values of the contact custom fields (see `/custom-fields`).
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ContactRow> for Contact {
    fn from(r: ContactRow) -> Contact {
        Contact {
            id: r.id,
            client_id: r.client_id,
            name: r.name,
            position: r.position,
            is_decision_maker: r.is_decision_maker,
            phones: serde_json::from_str(&r.phones).unwrap_or_default(),
            emails: serde_json::from_str(&r.emails).unwrap_or_default(),
            birthday: r.birthday,
            preferences: r.preferences,
            notes: r.notes,
            custom_fields: serde_json::from_str(&r.custom_fields).unwrap_or_default(),
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    /// Not blank.
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    pub name: String,
    #[schema(max_length = 5000)]
    pub position: Option<String>,
    #[serde(default)]
    pub is_decision_maker: bool,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub phones: Vec<Phone>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub emails: Vec<Email>,
    pub birthday: Option<NaiveDate>,
    #[schema(max_length = 5000)]
    pub preferences: Option<String>,
    #[schema(max_length = 5000)]
    pub notes: Option<String>,
    /// Values of the contact custom fields; every key must be defined.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Changes to a contact: only the fields sent are changed; `null` clears a field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 300, pattern = r"\S")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 5000)]
    pub position: Option<Option<String>>,
    pub is_decision_maker: Option<bool>,
    #[schema(max_items = 20)]
    pub phones: Option<Vec<Phone>>,
    #[schema(max_items = 20)]
    pub emails: Option<Vec<Email>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub birthday: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 5000)]
    pub preferences: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 5000)]
    pub notes: Option<Option<String>>,
    /// Replaces the whole object; `null` values remove keys.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset)]
#[diesel(table_name = contacts, treat_none_as_null = true)]
pub(super) struct ContactWrite {
    pub(super) name: String,
    pub(super) position: Option<String>,
    pub(super) is_decision_maker: bool,
    pub(super) phones: String,
    pub(super) emails: String,
    pub(super) birthday: Option<NaiveDate>,
    pub(super) preferences: Option<String>,
    pub(super) notes: Option<String>,
    pub(super) custom_fields: String,
}

/// The validated, normalised fields of a contact.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ContactFields {
    pub(super) name: String,
    pub(super) position: Option<String>,
    pub(super) is_decision_maker: bool,
    pub(super) phones: Vec<Phone>,
    pub(super) emails: Vec<Email>,
    pub(super) birthday: Option<NaiveDate>,
    pub(super) preferences: Option<String>,
    pub(super) notes: Option<String>,
    pub(super) custom_fields: serde_json::Map<String, serde_json::Value>,
}

pub(super) fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl ContactFields {
    /// Validates and normalises the fields, adding to `errors` (the custom fields' own checks).
    pub(super) fn validated(
        mut self,
        region: phonenumber::country::Id,
        mut errors: FieldErrors,
    ) -> Result<ContactFields, ApiError> {
        self.name = self.name.trim().to_string();
        errors.check(
            !self.name.is_empty() && self.name.chars().count() <= 300,
            "name",
            "is required (at most 300 characters)",
        );
        for (field, value) in [("position", &self.position), ("preferences", &self.preferences), ("notes", &self.notes)]
        {
            errors.check(value.as_ref().is_none_or(|v| v.chars().count() <= 5000), field, "is too long");
        }
        normalise_phones(&mut self.phones, "phones", region, &mut errors);
        normalise_emails(&mut self.emails, "emails", &mut errors);
        errors.into_result()?;
        Ok(self)
    }

    pub(super) fn write(&self) -> ContactWrite {
        ContactWrite {
            name: self.name.clone(),
            position: self.position.clone(),
            is_decision_maker: self.is_decision_maker,
            phones: serde_json::to_string(&self.phones).unwrap_or_default(),
            emails: serde_json::to_string(&self.emails).unwrap_or_default(),
            birthday: self.birthday,
            preferences: self.preferences.clone(),
            notes: self.notes.clone(),
            custom_fields: serde_json::to_string(&self.custom_fields).unwrap_or_default(),
        }
    }

    pub(super) fn of(c: &Contact) -> ContactFields {
        ContactFields {
            name: c.name.clone(),
            position: c.position.clone(),
            is_decision_maker: c.is_decision_maker,
            phones: c.phones.clone(),
            emails: c.emails.clone(),
            birthday: c.birthday,
            preferences: c.preferences.clone(),
            notes: c.notes.clone(),
            custom_fields: c.custom_fields.clone(),
        }
    }
}
