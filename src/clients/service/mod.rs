//! The rules of creating and changing a client card, shared by the API, telephony and sync:
//! validation, ownership and reference checks, then the write.

pub mod base;
pub mod export;
pub mod xlsx;

use crate::auth::Caller;
use crate::clients::model::{Client, ClientFields, ClientPatch, NewClient};
use crate::clients::repo;
use crate::db::DbConn;
use crate::error::{ApiError, FieldErrors};

/// How a card is read in: the region national phone numbers belong to, and the owner a new
/// card gets when none is given (the calling user, or whom telephony assigns).
#[derive(Debug, Clone, Copy)]
pub struct CardRules {
    pub phone_region: phonenumber::country::Id,
    pub default_owner: Option<i64>,
}

impl CardRules {
    pub fn for_caller(caller: &Caller, phone_region: phonenumber::country::Id) -> CardRules {
        CardRules { phone_region, default_owner: caller.user_id }
    }
}

fn check_owner(caller: &Caller, fields: &ClientFields, errors: &mut FieldErrors) {
    if let Some(me) = caller.own_clients_only() {
        errors.check(fields.owner_id == Some(me), "owner_id", "a manager can only hold clients they own themselves");
    }
}

/// Validates a new card completely (every invalid field reported at once) and creates it.
pub fn create(conn: &mut DbConn, input: NewClient, caller: &Caller, rules: CardRules) -> Result<Client, ApiError> {
    let mut errors = FieldErrors::new();
    let mut fields = ClientFields::from_new(input, rules.phone_region, &mut errors);
    if fields.owner_id.is_none() {
        fields.owner_id = rules.default_owner;
    }
    check_owner(caller, &fields, &mut errors);
    repo::check_references(conn, &mut fields, None, rules.phone_region, &mut errors)?;
    errors.into_result()?;
    repo::create(conn, &fields, &caller.origin())
}

/// Applies a patch to a visible client, honouring `If-Match`.
pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: ClientPatch,
    expected_version: Option<i64>,
    caller: &Caller,
    phone_region: phonenumber::country::Id,
) -> Result<Client, ApiError> {
    let current = repo::get(conn, id, caller.own_clients_only())?;
    crate::versioning::expect(expected_version, current.version)?;
    let mut errors = FieldErrors::new();
    let previous = ClientFields::from_client(&current);
    let mut fields = previous.patched(patch, phone_region, &mut errors);
    check_owner(caller, &fields, &mut errors);
    repo::check_references(conn, &mut fields, Some((id, &previous)), phone_region, &mut errors)?;
    errors.into_result()?;
    repo::update(conn, &current, &fields, &caller.origin()).map(|(client, _)| client)
}
