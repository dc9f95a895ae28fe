//! The rules of creating and changing a client card, shared by the API, telephony and sync:
//! validation, ownership and reference checks, then the write.

use super::model::{Client, ClientFields, ClientPatch, NewClient};
use super::repo;
use crate::auth::AuthContext;
use crate::db::DbConn;
use crate::error::{ApiError, FieldErrors};
use crate::events::Origin;

/// Who is writing and what they may touch.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Set for managers: they may only see and own their own clients.
    pub owner_only: Option<i64>,
    /// The owner of a new client when none is given (the calling user).
    pub default_owner: Option<i64>,
    pub origin: Origin,
    pub phone_region: phonenumber::country::Id,
}

impl Caller {
    pub fn of(auth: &AuthContext, phone_region: phonenumber::country::Id) -> Caller {
        Caller {
            owner_only: auth.own_clients_only(),
            default_owner: auth.user_id,
            origin: Origin::api(auth.actor()),
            phone_region,
        }
    }
}

fn check_owner(caller: &Caller, fields: &ClientFields, errors: &mut FieldErrors) {
    if let Some(me) = caller.owner_only {
        errors.check(fields.owner_id == Some(me), "owner_id", "a manager can only hold clients they own themselves");
    }
}

/// Validates a new card completely (every invalid field reported at once) and creates it.
pub fn create(conn: &mut DbConn, input: NewClient, caller: &Caller) -> Result<Client, ApiError> {
    let mut errors = FieldErrors::new();
    let mut fields = ClientFields::from_new(input, caller.phone_region, &mut errors);
    if fields.owner_id.is_none() {
        fields.owner_id = caller.default_owner;
    }
    check_owner(caller, &fields, &mut errors);
    repo::check_references(conn, &fields, None, &mut errors)?;
    errors.into_result()?;
    repo::create(conn, &fields, &caller.origin)
}

/// Applies a patch to a visible client, honouring `If-Match`.
pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: ClientPatch,
    expected_version: Option<i64>,
    caller: &Caller,
) -> Result<Client, ApiError> {
    let current = repo::get(conn, id, caller.owner_only)?;
    if expected_version.is_some_and(|v| v != current.version) {
        return Err(ApiError::PreconditionFailed);
    }
    let mut errors = FieldErrors::new();
    let previous = ClientFields::from_client(&current);
    let fields = previous.patched(patch, caller.phone_region, &mut errors);
    check_owner(caller, &fields, &mut errors);
    repo::check_references(conn, &fields, Some((id, &previous)), &mut errors)?;
    errors.into_result()?;
    repo::update(conn, &current, &fields, &caller.origin).map(|(client, _)| client)
}
