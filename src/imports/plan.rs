//! A batch of rows against the base: which card each row finds (in a few bulk queries per
//! batch, whatever its size), what would happen to it, and — when the run writes — the cards
//! created and changed in bulk with a record per row of what was done.

use std::collections::{BTreeMap, HashMap, HashSet};

use diesel::prelude::*;

use super::mapping::{Draft, Lookups, MatchKey};
use super::model::{ImportMode, ImportSettings, RowOutcome, RowRecord, Totals};
use crate::clients::model::{name_key, Client, ClientFields, ClientPatch};
use crate::clients::repo::{self as clients_repo, contact_points, ActiveReferences, ENTITY};
use crate::db::schema::{clients, contact_points as points};
use crate::db::DbConn;
use crate::error::{ApiError, FieldError, FieldErrors};
use crate::events::Origin;
use crate::external_ids;

/// A row read from the file, waiting for its batch.
#[derive(Debug, Clone)]
pub struct Pending {
    pub row: i64,
    pub draft: Draft,
    /// The earlier row of the file with the same INN, phone, email or external id.
    pub duplicate_of: Option<i64>,
}

#[derive(Debug, Clone)]
enum Write {
    Create(Box<ClientFields>),
    Update(Box<Client>, Box<ClientFields>),
}

/// What happens to one row.
#[derive(Debug, Clone)]
pub struct Decision {
    pub row: i64,
    pub outcome: RowOutcome,
    pub client_id: Option<i64>,
    /// The contact or sale (imports of those).
    pub record_id: Option<i64>,
    pub changes: Vec<&'static str>,
    pub errors: Vec<FieldError>,
    write: Option<Write>,
}

impl Decision {
    pub(super) fn rejected(row: i64, outcome: RowOutcome, client_id: Option<i64>, errors: Vec<FieldError>) -> Decision {
        Decision { row, outcome, client_id, record_id: None, changes: Vec::new(), errors, write: None }
    }

    /// A contact's or sale's row, written by its own rules.
    pub(super) fn done(
        row: i64,
        outcome: RowOutcome,
        client_id: i64,
        record_id: i64,
        changes: Vec<&'static str>,
    ) -> Decision {
        Decision {
            row,
            outcome,
            client_id: Some(client_id),
            record_id: Some(record_id),
            changes,
            errors: Vec::new(),
            write: None,
        }
    }

    pub(super) fn error(row: i64, field: &str, message: impl Into<String>) -> Decision {
        Decision::rejected(
            row,
            RowOutcome::Error,
            None,
            vec![FieldError { field: field.into(), message: message.into() }],
        )
    }
}

/// Everything a batch is judged by: the settings, the lookups, the default owner.
pub struct Judge<'a> {
    pub settings: &'a ImportSettings,
    pub lookups: &'a Lookups,
    pub region: phonenumber::country::Id,
    match_on: Vec<MatchKey>,
    default_owner: Option<i64>,
}

impl<'a> Judge<'a> {
    pub fn new(settings: &'a ImportSettings, lookups: &'a Lookups, region: phonenumber::country::Id) -> Judge<'a> {
        let match_on = settings.match_on.iter().filter_map(|k| MatchKey::parse(k)).collect();
        let default_owner = settings.defaults.owner.as_deref().and_then(|o| lookups.owner(o).ok());
        Judge { settings, lookups, region, match_on, default_owner }
    }
}

/// Cards found for the batch, by the kind of key and its value.
#[derive(Default)]
struct Found {
    by_key: HashMap<(String, String), HashSet<i64>>,
    deleted_holders: HashMap<(String, String), i64>,
}

impl Found {
    fn add(&mut self, kind: &str, value: String, id: i64) {
        self.by_key.entry((kind.to_string(), value)).or_default().insert(id);
    }

    fn get(&self, kind: &str, value: &str) -> impl Iterator<Item = i64> + '_ {
        self.by_key.get(&(kind.to_string(), value.to_string())).into_iter().flatten().copied()
    }
}

fn name_region(d: &Draft) -> Option<String> {
    let name = d.patch.name.as_deref()?;
    let region = d.patch.region.clone().flatten().unwrap_or_default();
    Some(format!("{}\n{}", name_key(name), region.trim()))
}

/// Reads the cards the batch's keys point at, one query per kind of key.
fn find(conn: &mut DbConn, judge: &Judge<'_>, batch: &[Pending]) -> Result<Found, ApiError> {
    let mut found = Found::default();
    let live = |ids: &[i64], conn: &mut DbConn| -> QueryResult<HashSet<i64>> {
        let mut alive = HashSet::new();
        for chunk in ids.chunks(1000) {
            alive.extend(
                clients::table
                    .filter(clients::id.eq_any(chunk))
                    .filter(clients::deleted_at.is_null())
                    .select(clients::id)
                    .load::<i64>(conn)?,
            );
        }
        Ok(alive)
    };
    for key in &judge.match_on {
        match key {
            MatchKey::Inn => {
                let inns: Vec<String> = batch.iter().filter_map(|p| p.draft.inn().map(String::from)).collect();
                for chunk in inns.chunks(1000) {
                    let rows: Vec<(Option<String>, i64)> = clients::table
                        .filter(clients::inn.eq_any(chunk))
                        .filter(clients::deleted_at.is_null())
                        .select((clients::inn, clients::id))
                        .load(conn)?;
                    for (inn, id) in rows {
                        found.add("inn", inn.unwrap_or_default(), id);
                    }
                }
            }
            MatchKey::Phone | MatchKey::Email => {
                let (kind, values): (&str, Vec<String>) = match key {
                    MatchKey::Phone => ("phone", batch.iter().flat_map(|p| p.draft.phones()).collect()),
                    _ => ("email", batch.iter().flat_map(|p| p.draft.emails()).collect()),
                };
                for chunk in values.chunks(1000) {
                    let rows: Vec<(String, i64)> = if kind == "phone" {
                        points::table
                            .inner_join(clients::table)
                            .filter(contact_points::phone_in(chunk))
                            .filter(clients::deleted_at.is_null())
                            .select((points::value, points::client_id))
                            .load(conn)?
                    } else {
                        points::table
                            .inner_join(clients::table)
                            .filter(points::kind.eq(contact_points::EMAIL))
                            .filter(points::value.eq_any(chunk))
                            .filter(clients::deleted_at.is_null())
                            .select((points::value, points::client_id))
                            .load(conn)?
                    };
                    for (value, id) in rows {
                        found.add(kind, value, id);
                    }
                }
            }
            MatchKey::ExternalId(_) => {}
            MatchKey::NameRegion | MatchKey::Name => {
                let by_name = matches!(key, MatchKey::Name);
                let keys: Vec<String> =
                    batch.iter().filter_map(|p| p.draft.patch.name.as_deref().map(name_key)).collect();
                for chunk in keys.chunks(1000) {
                    let rows: Vec<(Option<String>, Option<String>, i64)> = clients::table
                        .filter(clients::name_key.eq_any(chunk))
                        .filter(clients::deleted_at.is_null())
                        .select((clients::name_key, clients::region, clients::id))
                        .load(conn)?;
                    for (key, region, id) in rows {
                        let key = key.unwrap_or_default();
                        if by_name {
                            found.add("name", key, id);
                        } else {
                            found.add("name_region", format!("{key}\n{}", region.unwrap_or_default().trim()), id);
                        }
                    }
                }
            }
        }
    }
    // External ids: matched on when asked, and checked either way (one card per id).
    let mut sources: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in batch {
        for (s, v) in &p.draft.external_ids {
            sources.entry(s.as_str()).or_default().push(v.as_str());
        }
    }
    for (source, values) in sources {
        let kind = format!("external_id:{source}");
        for chunk in values.chunks(1000) {
            let holders = external_ids::holders(conn, ENTITY, source, chunk)?;
            let ids: Vec<i64> = holders.values().copied().collect();
            let alive = live(&ids, conn)?;
            for (value, id) in holders {
                if alive.contains(&id) {
                    found.add(&kind, value, id);
                } else {
                    found.deleted_holders.insert((kind.clone(), value), id);
                }
            }
        }
    }
    Ok(found)
}

/// The card a row finds: by the first kind of key that finds any; two cards are ambiguous.
fn matched(judge: &Judge<'_>, found: &Found, d: &Draft) -> Result<Option<i64>, FieldError> {
    for key in &judge.match_on {
        let values: Vec<String> = match key {
            MatchKey::Inn => d.inn().map(String::from).into_iter().collect(),
            MatchKey::Phone => d.phones(),
            MatchKey::Email => d.emails(),
            MatchKey::ExternalId(s) => d.external_ids.get(s).cloned().into_iter().collect(),
            MatchKey::NameRegion => name_region(d).into_iter().collect(),
            MatchKey::Name => d.patch.name.as_deref().map(name_key).into_iter().collect(),
        };
        let label = key.label();
        let ids: HashSet<i64> = values.iter().flat_map(|v| found.get(&label, v)).collect();
        match ids.len() {
            0 => continue,
            1 => return Ok(ids.into_iter().next()),
            _ => {
                let mut list: Vec<i64> = ids.into_iter().collect();
                list.sort_unstable();
                let list: Vec<String> = list.iter().map(i64::to_string).collect();
                return Err(FieldError {
                    field: label.clone(),
                    message: format!("ambiguous: matches clients {} by {label}", list.join(", ")),
                });
            }
        }
    }
    Ok(None)
}

/// The fields whose values differ, by the names the API gives them.
pub fn changed_fields(a: &ClientFields, b: &ClientFields) -> Vec<&'static str> {
    let mut out = Vec::new();
    macro_rules! cmp {
        ($($f:ident),*) => { $( if a.$f != b.$f { out.push(stringify!($f)); } )* };
    }
    cmp!(
        kind,
        roles,
        name,
        legal_name,
        inn,
        status,
        lost_reason,
        channel,
        region,
        industry,
        source,
        owner_id,
        tags,
        notes,
        custom_fields,
        external_ids,
        phones,
        emails,
        addresses,
        mailing_consent,
        estimated_potential
    );
    out
}

fn union<T: PartialEq + Clone>(mut have: Vec<T>, more: Option<Vec<T>>, same: impl Fn(&T, &T) -> bool) -> Vec<T> {
    for item in more.into_iter().flatten() {
        if !have.iter().any(|h| same(h, &item)) {
            have.push(item);
        }
    }
    have
}

/// An update adds to a card's lists (tags, phones, emails, addresses, external ids, custom
/// fields) rather than replacing them: a spreadsheet rarely holds all of a card.
fn merged_patch(before: &ClientFields, draft: &Draft, default_tags: &[String]) -> ClientPatch {
    let mut p = draft.patch.clone();
    let mut tags = draft.patch.tags.clone().unwrap_or_default();
    tags.extend(default_tags.iter().cloned());
    if !tags.is_empty() {
        p.tags =
            Some(union(before.tags.clone(), Some(tags), |a, b| a.trim().to_lowercase() == b.trim().to_lowercase()));
    }
    if p.phones.is_some() {
        p.phones = Some(union(before.phones.clone(), p.phones.take(), |a, b| a.number == b.number));
    }
    if p.emails.is_some() {
        p.emails = Some(union(before.emails.clone(), p.emails.take(), |a, b| a.address == b.address));
    }
    if p.roles.is_some() {
        p.roles = Some(union(before.roles.clone(), p.roles.take(), |a, b| a == b));
    }
    if p.addresses.is_some() {
        p.addresses = Some(union(before.addresses.clone(), p.addresses.take(), |a, b| a.line == b.line));
    }
    if !draft.external_ids.is_empty() {
        let mut ids = before.external_ids.clone();
        ids.extend(draft.external_ids.clone());
        p.external_ids = Some(ids);
    }
    if !draft.custom_fields.is_empty() {
        let mut cf = before.custom_fields.clone();
        cf.extend(draft.custom_fields.clone());
        p.custom_fields = Some(cf);
    }
    p
}

fn new_card(judge: &Judge<'_>, draft: &Draft, errors: &mut FieldErrors) -> Option<ClientFields> {
    let mut p = draft.patch.clone();
    let d = &judge.settings.defaults;
    if p.owner_id.is_none() {
        p.owner_id = judge.default_owner.map(Some);
    }
    if p.status.is_none() {
        p.status = d.status;
    }
    if p.channel.is_none() {
        p.channel = d.channel.clone().map(Some);
    }
    let mut tags = p.tags.take().unwrap_or_default();
    tags.extend(d.tags.iter().cloned());
    p.tags = Some(tags);
    if !draft.custom_fields.is_empty() {
        p.custom_fields = Some(draft.custom_fields.clone());
    }
    match crate::sync::model::new_client(p) {
        Ok(mut new) => {
            new.external_ids = draft.external_ids.clone();
            Some(ClientFields::from_new(new, judge.region, errors))
        }
        Err(e) => {
            errors.add(e.field, e.message);
            None
        }
    }
}

/// The client each row of a contacts or sales batch belongs to (None: none matches), found
/// as a client row finds its card.
pub(super) fn clients_of(
    conn: &mut DbConn,
    judge: &Judge<'_>,
    batch: &[Pending],
) -> Result<Vec<Result<Option<i64>, FieldError>>, ApiError> {
    let found = find(conn, judge, batch)?;
    Ok(batch.iter().map(|p| matched(judge, &found, &p.draft)).collect())
}

/// Decides every row of the batch; reads only.
pub fn decide(conn: &mut DbConn, judge: &Judge<'_>, batch: Vec<Pending>) -> Result<Vec<Decision>, ApiError> {
    let found = find(conn, judge, &batch)?;
    let mut matches: Vec<Result<Option<i64>, FieldError>> = Vec::with_capacity(batch.len());
    for p in &batch {
        matches.push(matched(judge, &found, &p.draft));
    }
    let ids: Vec<i64> = matches.iter().filter_map(|m| m.as_ref().ok().copied().flatten()).collect();
    let cards: HashMap<i64, Client> = clients_repo::load(conn, &ids)?.into_iter().map(|c| (c.id, c)).collect();
    let mut owners: Vec<i64> = batch.iter().filter_map(|p| p.draft.patch.owner_id.flatten()).collect();
    owners.extend(judge.default_owner);
    let references = ActiveReferences::load(conn, &owners, judge.region)?;

    let mode = judge.settings.mode;
    let mut touched: HashMap<i64, i64> = HashMap::new();
    let mut out = Vec::with_capacity(batch.len());
    for (p, m) in batch.into_iter().zip(matches) {
        let row = p.row;
        if !p.draft.errors.is_empty() {
            out.push(Decision::rejected(row, RowOutcome::Error, None, p.draft.errors));
            continue;
        }
        if let Some(first) = p.duplicate_of {
            out.push(Decision::error(
                row,
                "row",
                format!("repeats row {first}: the same INN, phone, email or external id"),
            ));
            continue;
        }
        let target = match m {
            Ok(t) => t,
            Err(e) => {
                out.push(Decision::rejected(row, RowOutcome::Error, None, vec![e]));
                continue;
            }
        };
        if let Some(((kind, value), id)) = p
            .draft
            .external_ids
            .iter()
            .map(|(s, v)| (format!("external_id:{s}"), v.clone()))
            .find_map(|k| found.deleted_holders.get(&k).map(|id| (k, *id)))
        {
            out.push(Decision::error(
                row,
                &kind,
                format!("'{value}' belongs to client {id}, which was deleted: restore it first"),
            ));
            continue;
        }
        let taken = p.draft.external_ids.iter().find_map(|(s, v)| {
            let kind = format!("external_id:{s}");
            found.get(&kind, v).find(|holder| Some(*holder) != target).map(|holder| (kind, holder))
        });
        if let Some((kind, holder)) = taken {
            out.push(Decision::error(row, &kind, format!("is already the id of client {holder}")));
            continue;
        }
        let mut errors = FieldErrors::new();
        match target.and_then(|id| cards.get(&id)) {
            Some(card) => {
                if mode == ImportMode::Create {
                    let message = format!("the base already has this card: client {}", card.id);
                    out.push(Decision::rejected(
                        row,
                        RowOutcome::Skip,
                        Some(card.id),
                        vec![FieldError { field: "row".into(), message }],
                    ));
                    continue;
                }
                if let Some(first) = touched.insert(card.id, row) {
                    out.push(Decision::error(
                        row,
                        "row",
                        format!("finds the same card as row {first} (client {})", card.id),
                    ));
                    continue;
                }
                let before = ClientFields::from_client(card);
                let patch = merged_patch(&before, &p.draft, &judge.settings.defaults.tags);
                let mut after = before.patched(patch, judge.region, &mut errors);
                references.check(&mut after, Some(&before), &mut errors);
                if !errors.is_empty() {
                    out.push(Decision::rejected(row, RowOutcome::Error, Some(card.id), errors.into_list()));
                    continue;
                }
                let changes = changed_fields(&before, &after);
                let (outcome, write) = if changes.is_empty() {
                    (RowOutcome::Unchanged, None)
                } else {
                    (RowOutcome::Update, Some(Write::Update(Box::new(card.clone()), Box::new(after))))
                };
                out.push(Decision {
                    row,
                    outcome,
                    client_id: Some(card.id),
                    record_id: None,
                    changes,
                    errors: Vec::new(),
                    write,
                });
            }
            None if mode == ImportMode::Update => {
                out.push(Decision::rejected(
                    row,
                    RowOutcome::Skip,
                    None,
                    vec![FieldError { field: "row".into(), message: "no card matches it (mode update)".into() }],
                ));
            }
            None => {
                let mut fields = new_card(judge, &p.draft, &mut errors);
                if let Some(f) = &mut fields {
                    references.check(f, None, &mut errors);
                }
                match fields.filter(|_| errors.is_empty()) {
                    Some(f) => out.push(Decision {
                        row,
                        outcome: RowOutcome::Create,
                        client_id: None,
                        record_id: None,
                        changes: Vec::new(),
                        errors: Vec::new(),
                        write: Some(Write::Create(Box::new(f))),
                    }),
                    None => out.push(Decision::rejected(row, RowOutcome::Error, None, errors.into_list())),
                }
            }
        }
    }
    refuse_taken_values(conn, &references, &mut out)?;
    Ok(out)
}

/// Turns the writes whose unique custom field values another card holds (or an earlier row of
/// the batch) into errors.
fn refuse_taken_values(conn: &mut DbConn, references: &ActiveReferences, out: &mut [Decision]) -> Result<(), ApiError> {
    let writes: Vec<(usize, Option<i64>, &ClientFields)> = out
        .iter()
        .enumerate()
        .filter_map(|(i, d)| match &d.write {
            Some(Write::Create(f)) => Some((i, None, &**f)),
            Some(Write::Update(c, f)) => Some((i, Some(c.id), &**f)),
            None => None,
        })
        .collect();
    let cards: Vec<(Option<i64>, &ClientFields)> = writes.iter().map(|(_, id, f)| (*id, *f)).collect();
    let conflicts = references.unique_conflicts(conn, &cards)?;
    let positions: Vec<usize> = writes.iter().map(|(i, _, _)| *i).collect();
    for (at, field, message) in conflicts {
        let d = &mut out[positions[at]];
        d.outcome = RowOutcome::Error;
        d.write = None;
        d.changes.clear();
        d.errors.push(FieldError { field, message });
    }
    Ok(())
}

/// Writes the batch's decisions: the new cards in bulk, the changed ones over the versions
/// read; returns the record of every row that did something, and the totals.
pub fn apply(
    conn: &mut DbConn,
    import_id: i64,
    decisions: Vec<Decision>,
    origin: &Origin,
) -> Result<(Vec<RowRecord>, Totals), ApiError> {
    let mut totals = Totals::default();
    let mut records = Vec::new();
    let mut creates: Vec<(i64, ClientFields)> = Vec::new();
    let mut updates: Vec<(i64, Client, ClientFields, Vec<&'static str>)> = Vec::new();
    let record = |row: i64, outcome: RowOutcome| RowRecord {
        import_id,
        row_no: row,
        outcome: outcome.as_str().to_string(),
        record_id: None,
        previous: None,
        version_after: None,
        reasons: None,
        reverted: false,
    };
    for d in decisions {
        totals.add(d.outcome);
        match d.write {
            Some(Write::Create(f)) => creates.push((d.row, *f)),
            Some(Write::Update(card, f)) => updates.push((d.row, *card, *f, d.changes)),
            None if matches!(d.outcome, RowOutcome::Error | RowOutcome::Skip) => records.push(RowRecord {
                record_id: d.record_id.or(d.client_id),
                reasons: Some(serde_json::to_string(&d.errors).unwrap_or_default()),
                ..record(d.row, d.outcome)
            }),
            None => {}
        }
    }
    let (rows, fields): (Vec<i64>, Vec<ClientFields>) = creates.into_iter().unzip();
    let created = clients_repo::create_many(conn, &fields, origin)?;
    for (row, card) in rows.into_iter().zip(&created) {
        records.push(RowRecord {
            record_id: Some(card.id),
            version_after: Some(card.version),
            ..record(row, RowOutcome::Create)
        });
    }
    let pairs: Vec<(&Client, &ClientFields)> = updates.iter().map(|(_, c, f, _)| (c, f)).collect();
    let updated = clients_repo::update_many(conn, &pairs, origin)?;
    for ((row, before, _, changes), after) in updates.iter().zip(&updated) {
        let old = serde_json::to_value(before).unwrap_or_default();
        let previous = super::records::previous_values(&old, changes);
        records.push(RowRecord {
            record_id: Some(after.id),
            previous: Some(previous.to_string()),
            version_after: Some(after.version),
            ..record(*row, RowOutcome::Update)
        });
    }
    Ok((records, totals))
}

impl Decision {
    pub fn preview(&self) -> super::model::PreviewRow {
        super::model::PreviewRow {
            row: self.row,
            outcome: self.outcome,
            client_id: self.client_id,
            record_id: self.record_id,
            changes: self.changes.iter().map(|c| c.to_string()).collect(),
            errors: self.errors.clone(),
        }
    }
}
