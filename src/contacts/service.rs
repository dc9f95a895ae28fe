//! The rules of adding, changing and removing a client's contact persons: the client must be
//! one the caller may see, the fields are validated and normalised, the contact points index
//! follows, and every change is recorded as an event.

use super::model::{clean, Contact, ContactFields, ContactPatch, NewContact, ENTITY};
use super::repo::{self, get};
use crate::auth::Caller;
use crate::custom_fields::{self, CustomEntity};
use crate::db::{now, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent};

/// Records `event_type` for the contact, with the contact as its payload.
fn record(conn: &mut DbConn, actor: &Caller, event_type: &'static str, contact: Contact) -> Result<Contact, ApiError> {
    events::record(
        conn,
        &actor.origin(),
        NewEvent { event_type, entity_type: ENTITY, entity_id: contact.id, payload: events::payload(&contact) },
    )?;
    Ok(contact)
}

pub fn create(
    conn: &mut DbConn,
    client_id: i64,
    input: NewContact,
    actor: &Caller,
    region: phonenumber::country::Id,
) -> Result<Contact, ApiError> {
    crate::clients::repo::get_row(conn, client_id, actor.own_clients_only())?;
    let mut fields = ContactFields {
        name: input.name,
        position: clean(input.position),
        is_decision_maker: input.is_decision_maker,
        phones: input.phones,
        emails: input.emails,
        birthday: input.birthday,
        preferences: clean(input.preferences),
        notes: clean(input.notes),
        custom_fields: input.custom_fields.unwrap_or_default(),
    };
    let schema = custom_fields::repo::schema(conn, CustomEntity::Contact)?;
    let mut errors = FieldErrors::new();
    custom_fields::service::check_record(conn, &schema, None, &mut fields.custom_fields, None, region, &mut errors)?;
    let fields = fields.validated(region, errors)?;
    let row = repo::insert(conn, fields.write(), client_id)?;
    repo::index(conn, &fields, &schema, client_id, row.id, false)?;
    record(conn, actor, "contact.created", Contact::from(row))
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: ContactPatch,
    expected_version: Option<i64>,
    actor: &Caller,
    region: phonenumber::country::Id,
) -> Result<Contact, ApiError> {
    let current = get(conn, id, actor.own_clients_only())?;
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
    if let Some(v) = patch.custom_fields {
        f.custom_fields = v;
    }
    let schema = custom_fields::repo::schema(conn, CustomEntity::Contact)?;
    let mut errors = FieldErrors::new();
    let previous = Some(&before.custom_fields);
    custom_fields::service::check_record(conn, &schema, Some(id), &mut f.custom_fields, previous, region, &mut errors)?;
    let f = f.validated(region, errors)?;
    if f == before {
        return Ok(current);
    }
    let row = repo::update_at(conn, id, current.version, f.write())?;
    repo::index(conn, &f, &schema, row.client_id, row.id, true)?;
    record(conn, actor, "contact.updated", Contact::from(row))
}

pub fn delete(conn: &mut DbConn, id: i64, expected_version: Option<i64>, actor: &Caller) -> Result<(), ApiError> {
    let current = get(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected_version, current.version)?;
    let at = now();
    repo::soft_delete(conn, id, current.client_id, current.version, at)?;
    events::record(
        conn,
        &actor.origin(),
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
