//! Contact persons of a client: who to call, their position and whether they decide (ЛПР).
//! Visibility follows the client: a manager reaches only the contacts of clients they own.

pub mod api;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clients::contact_points;
use crate::clients::model::{normalise_emails, normalise_phones, Email, Phone};
use crate::db::schema::{clients, contacts};
use crate::db::{now, Db, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent, Origin};
use crate::pagination::{page_from, Cursor, KeyValue, Page};
use crate::patch::double_option;
use crate::versioning::AtReadVersion;

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
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContact {
    pub name: String,
    pub position: Option<String>,
    #[serde(default)]
    pub is_decision_maker: bool,
    #[serde(default)]
    pub phones: Vec<Phone>,
    #[serde(default)]
    pub emails: Vec<Email>,
    pub birthday: Option<NaiveDate>,
    pub preferences: Option<String>,
    pub notes: Option<String>,
}

/// Changes to a contact: only the fields sent are changed; `null` clears a field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub position: Option<Option<String>>,
    pub is_decision_maker: Option<bool>,
    pub phones: Option<Vec<Phone>>,
    pub emails: Option<Vec<Email>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<NaiveDate>)]
    pub birthday: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub preferences: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Insertable, AsChangeset)]
#[diesel(table_name = contacts, treat_none_as_null = true)]
struct ContactWrite {
    name: String,
    position: Option<String>,
    is_decision_maker: bool,
    phones: String,
    emails: String,
    birthday: Option<NaiveDate>,
    preferences: Option<String>,
    notes: Option<String>,
}

/// The validated, normalised fields of a contact.
#[derive(Debug, Clone, PartialEq)]
struct ContactFields {
    name: String,
    position: Option<String>,
    is_decision_maker: bool,
    phones: Vec<Phone>,
    emails: Vec<Email>,
    birthday: Option<NaiveDate>,
    preferences: Option<String>,
    notes: Option<String>,
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl ContactFields {
    fn validated(mut self, region: phonenumber::country::Id) -> Result<ContactFields, ApiError> {
        let mut errors = FieldErrors::new();
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

    fn write(&self) -> ContactWrite {
        ContactWrite {
            name: self.name.clone(),
            position: self.position.clone(),
            is_decision_maker: self.is_decision_maker,
            phones: serde_json::to_string(&self.phones).unwrap_or_default(),
            emails: serde_json::to_string(&self.emails).unwrap_or_default(),
            birthday: self.birthday,
            preferences: self.preferences.clone(),
            notes: self.notes.clone(),
        }
    }

    fn of(c: &Contact) -> ContactFields {
        ContactFields {
            name: c.name.clone(),
            position: c.position.clone(),
            is_decision_maker: c.is_decision_maker,
            phones: c.phones.clone(),
            emails: c.emails.clone(),
            birthday: c.birthday,
            preferences: c.preferences.clone(),
            notes: c.notes.clone(),
        }
    }

    fn index(&self, conn: &mut DbConn, client_id: i64, contact_id: i64) -> QueryResult<()> {
        let phones: Vec<String> = self.phones.iter().map(|p| p.number.clone()).collect();
        let emails: Vec<String> = self.emails.iter().map(|e| e.address.clone()).collect();
        contact_points::replace(conn, client_id, Some(contact_id), &phones, &emails)
    }
}

/// A live contact of a live client the caller may see (ownership checked in the query).
pub fn get(conn: &mut DbConn, id: i64, owner_only: Option<i64>) -> Result<Contact, ApiError> {
    let mut q = contacts::table
        .inner_join(clients::table)
        .filter(contacts::id.eq(id))
        .filter(contacts::deleted_at.is_null())
        .filter(clients::deleted_at.is_null())
        .select(contacts::all_columns)
        .into_boxed::<Db>();
    q = crate::clients::visibility::clients_of(q, owner_only);
    let row: ContactRow = q.first(conn)?;
    Ok(row.into())
}

pub fn list(
    conn: &mut DbConn,
    client_id: i64,
    owner_only: Option<i64>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Page<Contact>, ApiError> {
    crate::clients::repo::get_row(conn, client_id, owner_only)?;
    let mut q = contacts::table
        .filter(contacts::client_id.eq(client_id))
        .filter(contacts::deleted_at.is_null())
        .select(contacts::all_columns)
        .into_boxed::<Db>();
    if let Some(raw) = cursor {
        q = q.filter(contacts::id.gt(Cursor::decode(raw, "id")?.id));
    }
    let rows: Vec<ContactRow> = q.order(contacts::id.asc()).limit(limit + 1).load(conn)?;
    Ok(page_from(rows, limit, |r| Cursor { sort: "id".into(), key: KeyValue::Null, id: r.id }).map(Contact::from))
}

pub fn create(
    conn: &mut DbConn,
    client_id: i64,
    input: NewContact,
    owner_only: Option<i64>,
    region: phonenumber::country::Id,
    origin: &Origin,
) -> Result<Contact, ApiError> {
    crate::clients::repo::get_row(conn, client_id, owner_only)?;
    let fields = ContactFields {
        name: input.name,
        position: clean(input.position),
        is_decision_maker: input.is_decision_maker,
        phones: input.phones,
        emails: input.emails,
        birthday: input.birthday,
        preferences: clean(input.preferences),
        notes: clean(input.notes),
    }
    .validated(region)?;
    let at = now();
    let row: ContactRow = diesel::insert_into(contacts::table)
        .values((
            fields.write(),
            contacts::client_id.eq(client_id),
            contacts::version.eq(1i64),
            contacts::created_at.eq(at),
            contacts::updated_at.eq(at),
        ))
        .returning(contacts::all_columns)
        .get_result(conn)?;
    fields.index(conn, client_id, row.id)?;
    let contact = Contact::from(row);
    events::record(
        conn,
        origin,
        NewEvent {
            event_type: "contact.created",
            entity_type: ENTITY,
            entity_id: contact.id,
            payload: events::payload(&contact),
        },
    )?;
    Ok(contact)
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: ContactPatch,
    expected_version: Option<i64>,
    owner_only: Option<i64>,
    region: phonenumber::country::Id,
    origin: &Origin,
) -> Result<Contact, ApiError> {
    let current = get(conn, id, owner_only)?;
    crate::versioning::expect(expected_version, current.version)?;
    let before = ContactFields::of(&current);
    let mut f = before.clone();
    if let Some(v) = patch.name {
        f.name = v;
    }
    if let Some(v) = patch.position {
        f.position = clean(v);
    }
    if let Some(v) = patch.is_decision_maker {
        f.is_decision_maker = v;
    }
    if let Some(v) = patch.phones {
        f.phones = v;
    }
    if let Some(v) = patch.emails {
        f.emails = v;
    }
    if let Some(v) = patch.birthday {
        f.birthday = v;
    }
    if let Some(v) = patch.preferences {
        f.preferences = clean(v);
    }
    if let Some(v) = patch.notes {
        f.notes = clean(v);
    }
    let f = f.validated(region)?;
    if f == before {
        return Ok(current);
    }
    let row: ContactRow =
        diesel::update(contacts::table.filter(contacts::id.eq(id)).filter(contacts::version.eq(current.version)))
            .set((f.write(), contacts::version.eq(current.version + 1), contacts::updated_at.eq(now())))
            .returning(contacts::all_columns)
            .get_result(conn)
            .at_read_version()?;
    f.index(conn, row.client_id, row.id)?;
    let contact = Contact::from(row);
    events::record(
        conn,
        origin,
        NewEvent {
            event_type: "contact.updated",
            entity_type: ENTITY,
            entity_id: contact.id,
            payload: events::payload(&contact),
        },
    )?;
    Ok(contact)
}

pub fn delete(
    conn: &mut DbConn,
    id: i64,
    expected_version: Option<i64>,
    owner_only: Option<i64>,
    origin: &Origin,
) -> Result<(), ApiError> {
    let current = get(conn, id, owner_only)?;
    crate::versioning::expect(expected_version, current.version)?;
    let at = now();
    diesel::update(contacts::table.find(id))
        .set((
            contacts::deleted_at.eq(Some(at)),
            contacts::updated_at.eq(at),
            contacts::version.eq(current.version + 1),
        ))
        .execute(conn)?;
    contact_points::replace(conn, current.client_id, Some(id), &[], &[])?;
    events::record(
        conn,
        origin,
        NewEvent {
            event_type: "contact.deleted",
            entity_type: ENTITY,
            entity_id: id,
            payload: serde_json::json!({ "id": id, "client_id": current.client_id, "deleted_at": at.and_utc() })
                .to_string(),
        },
    )?;
    Ok(())
}
