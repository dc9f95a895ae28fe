//! A sync batch's client items, read straight from the request text into their fields: the
//! source's id, an optional owner by email, and the card fields the item carries.

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::batch::ItemResult;
use crate::clients::model::{ClientPatch, NewClient};
use crate::error::FieldError;

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
pub fn new_client(patch: ClientPatch) -> Result<NewClient, FieldError> {
    let name = patch.name.ok_or(FieldError { field: "name".into(), message: "is required for a new client".into() })?;
    Ok(NewClient {
        kind: patch.kind.unwrap_or(crate::clients::model::ClientKind::Company),
        roles: patch.roles.unwrap_or_else(|| vec![crate::clients::model::CounterpartyRole::Client]),
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
