//! Upserting a batch of clients by the source system's ids, in a fixed number of statements.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;

use crate::batch::{ItemResult, ItemStatus};
use crate::clients::model::{Client, ClientFields, ClientRow};
use crate::clients::repo::{self as clients_repo, ActiveReferences, ENTITY};
use crate::db::schema::{clients, users};
use crate::db::DbConn;
use crate::error::{ApiError, FieldErrors};
use crate::events::Origin;
use crate::external_ids;

use super::model::{new_client, ClientItem};

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
    let references = ActiveReferences::load(conn, &owners, region)?;

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
        let (previous, mut fields) = match holder.and_then(|id| existing.get(&id)) {
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
        references.check(&mut fields, previous.as_ref(), &mut errors);
        if !errors.is_empty() {
            results.push(ItemResult::error(item.index, errors.into_list()));
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
    // Unique custom field values, against the base and across the batch.
    let cards: Vec<(Option<i64>, &ClientFields)> =
        updates.iter().map(|(_, id, f)| (Some(*id), f)).chain(creates.iter().map(|(_, f)| (None, f))).collect();
    let conflicts = references.unique_conflicts(conn, &cards)?;
    let mut refused: HashMap<usize, Vec<crate::error::FieldError>> = HashMap::new();
    for (at, field, message) in conflicts {
        let index = if at < updates.len() { updates[at].0 } else { creates[at - updates.len()].0 };
        refused.entry(index).or_default().push(crate::error::FieldError { field, message });
    }
    updates.retain(|(index, _, _)| !refused.contains_key(index));
    creates.retain(|(index, _)| !refused.contains_key(index));
    results.extend(refused.into_iter().map(|(index, errors)| ItemResult::error(index, errors)));
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
