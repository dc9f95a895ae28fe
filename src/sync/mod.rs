//! ERP / 1C synchronisation: batch upserts of clients (and, through the sales pipeline, of
//! purchases) by the source system's own ids, and the change feed read from the event log.

pub mod api;
pub mod feed;

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::batch::{ItemResult, ItemStatus};
use crate::clients::model::{Client, ClientFields, ClientPatch, ClientRow, NewClient};
use crate::clients::repo::{self as clients_repo, ENTITY};
use crate::db::schema::{channels, clients, users};
use crate::db::DbConn;
use crate::error::{ApiError, FieldError, FieldErrors};
use crate::events::Origin;
use crate::external_ids;

/// One client of a sync batch: its id in the source, an optional owner by email, and the card
/// fields it carries (absent fields are left as they are; `null` clears).
pub struct ClientItem {
    pub index: usize,
    pub external_id: String,
    pub owner_email: Option<String>,
    pub patch: ClientPatch,
}

/// Splits a raw item into its key, its owner email and the card fields, or says what is wrong.
pub fn parse_client_item(index: usize, raw: &RawValue) -> Result<ClientItem, ItemResult> {
    let fail = |field: &str, message: &str| Err(ItemResult::failed(index, field, message));
    if !raw.get().starts_with('{') {
        return fail("item", "must be an object");
    }
    let mut keys = ItemKeys::default();
    let patch = crate::batch::parse_item(index, raw, ItemSeed(&mut keys))?;
    let external_id = match keys.external_id {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 200 => s.trim().to_string(),
        _ => return fail("external_id", "is required: the client's id in the source system (1 to 200 characters)"),
    };
    if patch.external_ids.is_some() {
        return fail("external_ids", "is not synced; each source sends its own external_id");
    }
    let owner_email = match keys.owner_email {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_lowercase()),
        Some(_) => return fail("owner_email", "must be a string"),
    };
    Ok(ClientItem { index, external_id, owner_email, patch })
}

/// The members of a sync item that are not card fields.
#[derive(Default)]
struct ItemKeys {
    external_id: Option<Value>,
    owner_email: Option<Value>,
}

/// Reads a sync item straight into `ClientPatch` (which refuses unknown fields), taking
/// `external_id` and `owner_email` aside on the way.
struct ItemSeed<'k>(&'k mut ItemKeys);

impl<'de> DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = ClientPatch;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ClientPatch, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_> {
    type Value = ClientPatch;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a client object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ClientPatch, A::Error> {
        ClientPatch::deserialize(MapAccessDeserializer::new(CardFields { map, keys: self.0 }))
    }
}

/// The item's members minus the ones `ItemKeys` takes.
struct CardFields<'k, A> {
    map: A,
    keys: &'k mut ItemKeys,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for CardFields<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        while let Some(key) = self.map.next_key::<String>()? {
            match key.as_str() {
                "external_id" => self.keys.external_id = Some(self.map.next_value()?),
                "owner_email" => self.keys.owner_email = Some(self.map.next_value()?),
                _ => return seed.deserialize(key.into_deserializer()).map(Some),
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// A new card from the fields of a sync item (`name` is then required).
fn new_client(patch: ClientPatch) -> Result<NewClient, FieldError> {
    let name = patch.name.ok_or(FieldError { field: "name".into(), message: "is required for a new client".into() })?;
    Ok(NewClient {
        kind: patch.kind.unwrap_or(crate::clients::model::ClientKind::Company),
        name,
        legal_name: patch.legal_name.flatten(),
        inn: patch.inn.flatten(),
        status: patch.status.unwrap_or(crate::clients::model::ClientStatus::Potential),
        lost_reason: patch.lost_reason.flatten(),
        channel: patch.channel.flatten(),
        region: patch.region.flatten(),
        industry: patch.industry.flatten(),
        source: patch.source.flatten(),
        owner_id: patch.owner_id.flatten(),
        tags: patch.tags.unwrap_or_default(),
        notes: patch.notes.flatten(),
        custom_fields: patch.custom_fields,
        external_ids: Default::default(),
        phones: patch.phones.unwrap_or_default(),
        emails: patch.emails.unwrap_or_default(),
        addresses: patch.addresses.unwrap_or_default(),
        mailing_consent: patch.mailing_consent.unwrap_or(false),
        estimated_potential: patch.estimated_potential.flatten(),
    })
}

fn field_errors(errors: FieldErrors) -> Vec<FieldError> {
    match errors.into_result() {
        Err(ApiError::Validation(list)) => list,
        _ => Vec::new(),
    }
}

/// Upserts a batch of clients by `(source, external_id)` in a fixed number of statements: the
/// existing cards, owners and channels are read in bulk; unchanged cards are left untouched
/// (no new version, no event); new and changed ones are written in bulk.
pub fn apply_clients(
    conn: &mut DbConn,
    items: Vec<ClientItem>,
    source: &str,
    origin: &Origin,
    region: phonenumber::country::Id,
) -> Result<Vec<ItemResult>, ApiError> {
    let keys: Vec<&str> = items.iter().map(|i| i.external_id.as_str()).collect();
    let holders = external_ids::holders(conn, ENTITY, source, &keys)?;
    let existing_rows: Vec<ClientRow> =
        clients::table.filter(clients::id.eq_any(holders.values().copied().collect::<Vec<_>>())).load(conn)?;
    let existing: HashMap<i64, Client> =
        clients_repo::to_clients(conn, existing_rows.iter().filter(|r| r.deleted_at.is_none()).cloned().collect())?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
    let deleted: HashSet<i64> = existing_rows.iter().filter(|r| r.deleted_at.is_some()).map(|r| r.id).collect();
    let emails: Vec<&str> = items.iter().filter_map(|i| i.owner_email.as_deref()).collect();
    let by_email: HashMap<String, (i64, bool)> = users::table
        .filter(users::email.eq_any(&emails))
        .select((users::email, users::id, users::active))
        .load::<(String, i64, bool)>(conn)?
        .into_iter()
        .map(|(e, id, active)| (e, (id, active)))
        .collect();
    // Only the owners the batch names, not every user of the CRM.
    let mut owners: Vec<i64> = items.iter().filter_map(|i| i.patch.owner_id.flatten()).collect();
    owners.extend(by_email.values().map(|(id, _)| *id));
    let active_users: HashSet<i64> = users::table
        .filter(users::active.eq(true))
        .filter(users::id.eq_any(&owners))
        .select(users::id)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    let active_channels: HashSet<String> = channels::table
        .filter(channels::active.eq(true))
        .select(channels::code)
        .load::<String>(conn)?
        .into_iter()
        .collect();

    let mut results = Vec::with_capacity(items.len());
    let mut seen: HashSet<String> = HashSet::new();
    let mut creates: Vec<(usize, ClientFields)> = Vec::new();
    let mut updates: Vec<(usize, i64, ClientFields)> = Vec::new();
    for item in items {
        let mut errors = FieldErrors::new();
        if !seen.insert(item.external_id.clone()) {
            results.push(ItemResult::failed(item.index, "external_id", "appears twice in this batch"));
            continue;
        }
        let mut patch = item.patch;
        if let Some(email) = &item.owner_email {
            match by_email.get(email) {
                Some((id, true)) => patch.owner_id = Some(Some(*id)),
                _ => errors.add("owner_email", "is not an active user"),
            }
        }
        let holder = holders.get(&item.external_id).copied();
        if holder.is_some_and(|id| deleted.contains(&id)) {
            results.push(ItemResult::failed(
                item.index,
                "external_id",
                "the client was deleted in the CRM: restore it first",
            ));
            continue;
        }
        let (previous, fields) = match holder.and_then(|id| existing.get(&id)) {
            Some(current) => {
                let before = ClientFields::from_client(current);
                let after = before.patched(patch, region, &mut errors);
                (Some(before), after)
            }
            None => match new_client(patch) {
                Ok(new) => {
                    let mut f = ClientFields::from_new(new, region, &mut errors);
                    f.external_ids.insert(source.to_string(), item.external_id.clone());
                    (None, f)
                }
                Err(e) => {
                    results.push(ItemResult::error(item.index, vec![e]));
                    continue;
                }
            },
        };
        let changed = |a: &Option<String>, b: &Option<String>| previous.is_none() || a != b;
        if let Some(ch) = fields
            .channel
            .as_ref()
            .filter(|c| changed(&previous.as_ref().and_then(|p| p.channel.clone()), &Some((*c).clone())))
        {
            errors.check(active_channels.contains(ch), "channel", format_args!("'{ch}' is not an active channel"));
        }
        if let Some(owner) = fields.owner_id.filter(|o| previous.as_ref().is_none_or(|p| p.owner_id != Some(*o))) {
            errors.check(active_users.contains(&owner), "owner_id", "is not an active user");
        }
        if !errors.is_empty() {
            results.push(ItemResult::error(item.index, field_errors(errors)));
            continue;
        }
        match (holder, previous) {
            (Some(id), Some(before)) if before == fields => {
                results.push(ItemResult::ok(item.index, ItemStatus::Unchanged, id))
            }
            (Some(id), Some(_)) => updates.push((item.index, id, fields)),
            _ => creates.push((item.index, fields)),
        }
    }
    let (indexes, new_cards): (Vec<usize>, Vec<ClientFields>) = creates.into_iter().unzip();
    let created = clients_repo::create_many(conn, &new_cards, origin)?;
    for (index, client) in indexes.into_iter().zip(&created) {
        results.push(ItemResult::ok(index, ItemStatus::Created, client.id));
    }
    let changes: Vec<(&Client, &ClientFields)> =
        updates.iter().filter_map(|(_, id, f)| existing.get(id).map(|c| (c, f))).collect();
    clients_repo::update_many(conn, &changes, origin)?;
    for (index, id, _) in &updates {
        results.push(ItemResult::ok(*index, ItemStatus::Updated, *id));
    }
    Ok(results)
}
