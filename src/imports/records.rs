//! Rows that are contact persons or purchases. Each row finds its client by the client keys
//! its `client.*` columns give (as a client row finds its card) and is then written by the
//! contacts or sales rules themselves: a contact row by row, each in a savepoint so a row the
//! rules refuse is reported and the batch goes on; a batch's sales in one bulk call. A preview
//! runs the same inside a transaction that is rolled back.

use std::collections::{HashMap, HashSet};

use diesel::Connection;
use serde_json::{Map, Value};

use super::mapping::{Draft, Record, SaleCells};
use super::model::{ImportMode, RevertSummary, RowOutcome, RowRecord, Totals};
use super::plan::{self, Decision, Judge, Pending};
use crate::auth::Caller;
use crate::batch::ItemStatus;
use crate::clients::model::name_key;
use crate::contacts::{Contact, ContactPatch, NewContact};
use crate::db::DbConn;
use crate::error::{ApiError, FieldError};
use crate::sales::model::{ClientRef, Sale, SaleDraft};

/// What the rows of a contacts or sales batch are written with.
pub struct Writer<'a> {
    pub judge: &'a Judge<'a>,
    pub import_id: i64,
    pub caller: Caller,
    pub currency: &'a str,
}

/// What a batch did: a decision per row and the records of the rows that did something.
pub struct Outcome {
    pub decisions: Vec<Decision>,
    pub records: Vec<RowRecord>,
    pub totals: Totals,
}

impl Outcome {
    /// The decisions in row order, with the records of the written rows and of the rejected
    /// and skipped ones (the errors report reads those).
    fn new(import_id: i64, mut decisions: Vec<Decision>, mut records: Vec<RowRecord>) -> Outcome {
        let mut totals = Totals::default();
        for d in &decisions {
            totals.add(d.outcome);
        }
        records.extend(
            decisions
                .iter()
                .filter(|d| matches!(d.outcome, RowOutcome::Error | RowOutcome::Skip))
                .map(|d| record(import_id, d)),
        );
        decisions.sort_by_key(|d| d.row);
        Outcome { decisions, records, totals }
    }
}

fn record(import_id: i64, d: &Decision) -> RowRecord {
    RowRecord {
        import_id,
        row_no: d.row,
        outcome: d.outcome.as_str().to_string(),
        record_id: d.record_id,
        previous: None,
        version_after: None,
        reasons: (!d.errors.is_empty()).then(|| serde_json::to_string(&d.errors).unwrap_or_default()),
        reverted: false,
    }
}

/// The rows whose draft, duplicate check or client already settle them; the rest, with the
/// client each belongs to.
fn triage(
    conn: &mut DbConn,
    judge: &Judge<'_>,
    batch: Vec<Pending>,
    out: &mut Vec<Decision>,
) -> Result<Vec<(i64, i64, Draft)>, ApiError> {
    let clients = plan::clients_of(conn, judge, &batch)?;
    let mut rest = Vec::with_capacity(batch.len());
    for (p, client) in batch.into_iter().zip(clients) {
        if !p.draft.errors.is_empty() {
            out.push(Decision::rejected(p.row, RowOutcome::Error, None, p.draft.errors));
            continue;
        }
        if let Some(first) = p.duplicate_of {
            out.push(Decision::error(p.row, "row", format!("repeats row {first}")));
            continue;
        }
        match client {
            Err(e) => out.push(Decision::rejected(p.row, RowOutcome::Error, None, vec![e])),
            Ok(None) => out.push(Decision::error(
                p.row,
                "client",
                format!("no client matches the row by {}", judge.settings.match_on.join(", ")),
            )),
            Ok(Some(client_id)) => rest.push((p.row, client_id, p.draft)),
        }
    }
    Ok(rest)
}

type ContactTest<'t> = Box<dyn Fn(&Contact) -> bool + 't>;

/// The contact of the client a row describes: by email, else phone, else name; two found
/// make the row ambiguous.
fn same_contact<'c>(known: &[&'c Contact], patch: &ContactPatch) -> Result<Option<&'c Contact>, FieldError> {
    let emails: Vec<&str> = patch.emails.iter().flatten().map(|e| e.address.as_str()).collect();
    let phones: Vec<&str> = patch.phones.iter().flatten().map(|p| p.number.as_str()).collect();
    let name = patch.name.as_deref().map(name_key);
    let tests: [(&str, ContactTest<'_>); 3] = [
        ("emails", Box::new(|c: &Contact| c.emails.iter().any(|e| emails.contains(&e.address.as_str())))),
        ("phones", Box::new(|c: &Contact| c.phones.iter().any(|p| phones.contains(&p.number.as_str())))),
        ("name", Box::new(|c: &Contact| name.as_ref().is_some_and(|n| *n == name_key(&c.name)))),
    ];
    for (field, test) in tests {
        let hits: Vec<&Contact> = known.iter().copied().filter(|c| test(c)).collect();
        match hits.as_slice() {
            [] => continue,
            [one] => return Ok(Some(one)),
            many => {
                let ids: Vec<String> = many.iter().map(|c| c.id.to_string()).collect();
                return Err(FieldError {
                    field: field.into(),
                    message: format!("ambiguous: matches contacts {} by {field}", ids.join(", ")),
                });
            }
        }
    }
    Ok(None)
}

/// A row's update of a contact: the cells given replace, phones and emails are added to.
fn merged(current: &Contact, mut patch: ContactPatch, custom: &Map<String, Value>) -> ContactPatch {
    if let Some(more) = patch.phones.take() {
        let mut all = current.phones.clone();
        all.extend(more.into_iter().filter(|p| !current.phones.iter().any(|h| h.number == p.number)));
        patch.phones = Some(all);
    }
    if let Some(more) = patch.emails.take() {
        let mut all = current.emails.clone();
        all.extend(more.into_iter().filter(|e| !current.emails.iter().any(|h| h.address == e.address)));
        patch.emails = Some(all);
    }
    if !custom.is_empty() {
        let mut all = current.custom_fields.clone();
        all.extend(custom.clone());
        patch.custom_fields = Some(all);
    }
    patch
}

const CONTACT_FIELDS: &[&str] =
    &["name", "position", "is_decision_maker", "phones", "emails", "birthday", "preferences", "notes", "custom_fields"];

/// The fields whose values differ between two versions of a record, and their old values.
fn diff(
    before: &impl serde::Serialize,
    after: &impl serde::Serialize,
    fields: &[&'static str],
) -> (Vec<&'static str>, Value) {
    let (a, b) = (serde_json::to_value(before).unwrap_or_default(), serde_json::to_value(after).unwrap_or_default());
    let changed: Vec<&'static str> = fields.iter().copied().filter(|f| a.get(f) != b.get(f)).collect();
    let previous = previous_values(&a, &changed);
    (changed, previous)
}

/// The values `fields` had in a record's JSON, as the row record keeps them for a revert.
pub(super) fn previous_values(before: &Value, fields: &[&'static str]) -> Value {
    Value::Object(fields.iter().map(|f| (f.to_string(), before.get(*f).cloned().unwrap_or(Value::Null))).collect())
}

/// Whether an error of the contacts rules is the row's fault (reported) or the run's (raised).
fn row_fault(e: ApiError) -> Result<Vec<FieldError>, ApiError> {
    match e {
        ApiError::Validation(list) => Ok(list),
        ApiError::NotFound => Ok(vec![FieldError { field: "client".into(), message: "the client was deleted".into() }]),
        ApiError::Conflict(m) | ApiError::Unprocessable(m) => Ok(vec![FieldError { field: "row".into(), message: m }]),
        other => Err(other),
    }
}

/// Writes a batch of contact or sale rows.
pub fn write(
    conn: &mut DbConn,
    entity: super::model::ImportEntity,
    w: &Writer<'_>,
    batch: Vec<Pending>,
) -> Result<Outcome, ApiError> {
    match entity {
        super::model::ImportEntity::Sales => sales(conn, w, batch),
        _ => contacts(conn, w, batch),
    }
}

/// Writes a batch of contact rows.
pub fn contacts(conn: &mut DbConn, w: &Writer<'_>, batch: Vec<Pending>) -> Result<Outcome, ApiError> {
    let mut out = Vec::new();
    let rest = triage(conn, w.judge, batch, &mut out)?;
    let ids: Vec<i64> = rest.iter().map(|(_, c, _)| *c).collect();
    let known = crate::contacts::repo::of_clients(conn, &ids)?;
    let mut by_client: HashMap<i64, Vec<&Contact>> = HashMap::new();
    for c in &known {
        by_client.entry(c.client_id).or_default().push(c);
    }
    let mode = w.judge.settings.mode;
    let region = w.judge.region;
    let mut records = Vec::new();
    let mut touched: HashMap<i64, i64> = HashMap::new();
    for (row, client_id, draft) in rest {
        let Record::Contact(patch) = draft.record else { continue };
        let current = match same_contact(by_client.get(&client_id).map_or(&[][..], Vec::as_slice), &patch) {
            Ok(c) => c,
            Err(e) => {
                out.push(Decision::rejected(row, RowOutcome::Error, Some(client_id), vec![e]));
                continue;
            }
        };
        let skip = |message: String| {
            Decision::rejected(
                row,
                RowOutcome::Skip,
                Some(client_id),
                vec![FieldError { field: "row".into(), message }],
            )
        };
        match current {
            Some(c) if mode == ImportMode::Create => {
                out.push(skip(format!("the client already has this contact: {}", c.id)))
            }
            None if mode == ImportMode::Update => {
                out.push(skip("no contact of the client matches it (mode update)".into()))
            }
            Some(c) => {
                if let Some(first) = touched.insert(c.id, row) {
                    out.push(Decision::error(row, "row", format!("finds the same contact as row {first} ({})", c.id)));
                    continue;
                }
                let patch = merged(c, patch, &draft.custom_fields);
                let written = conn
                    .transaction(|conn| crate::contacts::update(conn, c.id, patch, Some(c.version), &w.caller, region));
                match written {
                    Ok(after) if after.version == c.version => {
                        out.push(Decision::done(row, RowOutcome::Unchanged, client_id, c.id, Vec::new()))
                    }
                    Ok(after) => {
                        let (changes, previous) = diff(c, &after, CONTACT_FIELDS);
                        let d = Decision::done(row, RowOutcome::Update, client_id, c.id, changes);
                        records.push(RowRecord {
                            previous: Some(previous.to_string()),
                            version_after: Some(after.version),
                            ..record(w.import_id, &d)
                        });
                        out.push(d);
                    }
                    Err(e) => out.push(Decision::rejected(row, RowOutcome::Error, Some(client_id), row_fault(e)?)),
                }
            }
            None => {
                let Some(name) = patch.name.clone() else {
                    out.push(Decision::error(row, "name", "is required for a new contact"));
                    continue;
                };
                let input = NewContact {
                    name,
                    position: patch.position.flatten(),
                    is_decision_maker: patch.is_decision_maker.unwrap_or(false),
                    phones: patch.phones.unwrap_or_default(),
                    emails: patch.emails.unwrap_or_default(),
                    birthday: patch.birthday.flatten(),
                    preferences: patch.preferences.flatten(),
                    notes: patch.notes.flatten(),
                    custom_fields: (!draft.custom_fields.is_empty()).then_some(draft.custom_fields),
                };
                let written =
                    conn.transaction(|conn| crate::contacts::create(conn, client_id, input, &w.caller, region));
                match written {
                    Ok(c) => {
                        let d = Decision::done(row, RowOutcome::Create, client_id, c.id, Vec::new());
                        records.push(RowRecord { version_after: Some(c.version), ..record(w.import_id, &d) });
                        out.push(d);
                    }
                    Err(e) => out.push(Decision::rejected(row, RowOutcome::Error, Some(client_id), row_fault(e)?)),
                }
            }
        }
    }
    Ok(Outcome::new(w.import_id, out, records))
}

const SALE_FIELDS: &[&str] = &["client_id", "sold_on", "amount", "cost", "margin", "currency", "document_number"];

fn draft_of(index: usize, client_id: i64, s: &SaleCells) -> SaleDraft {
    SaleDraft {
        index,
        client: Some(ClientRef::Id(client_id)),
        key: s.key.clone(),
        external_ids: Default::default(),
        sold_on: s.sold_on.unwrap_or_default(),
        amount: s.amount.clone().unwrap_or_default(),
        cost: s.cost.clone(),
        margin: s.margin.clone(),
        currency: s.currency.clone(),
        document_number: s.document_number.clone(),
    }
}

/// Writes a batch of sale rows: those with an external id are created or updated by it (as
/// `/sync/sales` does); those without one are created unless the client already has a sale of
/// that day, amount and document number (a re-run of the same file creates nothing).
pub fn sales(conn: &mut DbConn, w: &Writer<'_>, batch: Vec<Pending>) -> Result<Outcome, ApiError> {
    let mut out = Vec::new();
    let rest = triage(conn, w.judge, batch, &mut out)?;
    let mode = w.judge.settings.mode;
    let source = rest.iter().find_map(|(_, _, d)| match &d.record {
        Record::Sale(SaleCells { key: Some((s, _)), .. }) => Some(s.clone()),
        _ => None,
    });
    let keys: Vec<&str> = rest
        .iter()
        .filter_map(|(_, _, d)| match &d.record {
            Record::Sale(s) => s.key.as_ref().map(|(_, k)| k.as_str()),
            _ => None,
        })
        .collect();
    let holders = match &source {
        Some(s) if !keys.is_empty() => crate::external_ids::holders(conn, crate::sales::repo::ENTITY, s, &keys)?,
        _ => HashMap::new(),
    };
    let before: HashMap<i64, Sale> = crate::sales::repo::by_ids(conn, &holders.values().copied().collect::<Vec<_>>())?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let client_ids: Vec<i64> = rest.iter().map(|(_, c, _)| *c).collect();
    let days: Vec<chrono::NaiveDate> = rest
        .iter()
        .filter_map(|(_, _, d)| match &d.record {
            Record::Sale(s) if s.key.is_none() => s.sold_on,
            _ => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let made = crate::sales::repo::on_days(conn, &client_ids, &days)?;

    let mut drafts: Vec<SaleDraft> = Vec::new();
    let mut rows: Vec<(i64, i64, Option<i64>)> = Vec::new();
    for (row, client_id, draft) in rest {
        let Record::Sale(s) = &draft.record else { continue };
        let mut missing = Vec::new();
        if s.sold_on.is_none() {
            missing.push(FieldError { field: "sold_on".into(), message: "is required".into() });
        }
        if s.amount.is_none() {
            missing.push(FieldError { field: "amount".into(), message: "is required".into() });
        }
        if !missing.is_empty() {
            out.push(Decision::rejected(row, RowOutcome::Error, Some(client_id), missing));
            continue;
        }
        let existing = s.key.as_ref().and_then(|(_, k)| holders.get(k)).copied();
        let skip = |message: &str| {
            Decision::rejected(
                row,
                RowOutcome::Skip,
                Some(client_id),
                vec![FieldError { field: "row".into(), message: message.into() }],
            )
        };
        match existing {
            Some(_) if mode == ImportMode::Create => {
                out.push(skip("the base already has this sale (its external id)"));
                continue;
            }
            None if mode == ImportMode::Update => {
                out.push(skip("no sale has this external id (mode update)"));
                continue;
            }
            _ => {}
        }
        if s.key.is_none() {
            let amount = s.amount.as_deref().and_then(|a| crate::money::parse_minor(a).ok());
            let number = s.document_number.as_deref().map(str::trim).filter(|n| !n.is_empty());
            let same = made.iter().find(|m| {
                m.client_id == client_id
                    && Some(m.sold_on) == s.sold_on
                    && Some(m.amount) == amount
                    && m.document_number.as_deref() == number
            });
            if let Some(m) = same {
                out.push(Decision::done(row, RowOutcome::Unchanged, client_id, m.id, Vec::new()));
                continue;
            }
        }
        drafts.push(draft_of(rows.len(), client_id, s));
        rows.push((row, client_id, existing));
    }
    let results = crate::sales::service::apply(conn, drafts, source.as_deref(), &w.caller, w.currency)?;
    let written: Vec<i64> = results.iter().filter_map(|r| r.id).collect();
    let after: HashMap<i64, Sale> =
        crate::sales::repo::by_ids(conn, &written)?.into_iter().map(|s| (s.id, s)).collect();
    let mut records = Vec::new();
    for r in results {
        let (row, client_id, existing) = rows[r.index];
        let sale = r.id.and_then(|id| after.get(&id));
        match (r.status, sale) {
            (ItemStatus::Created, Some(sale)) => {
                let d = Decision::done(row, RowOutcome::Create, client_id, sale.id, Vec::new());
                records.push(RowRecord { version_after: Some(sale.version), ..record(w.import_id, &d) });
                out.push(d);
            }
            (ItemStatus::Updated, Some(sale)) => {
                let old = existing.and_then(|id| before.get(&id));
                let changes = old.map_or_else(Vec::new, |o| diff(o, sale, SALE_FIELDS).0);
                let d = Decision::done(row, RowOutcome::Update, client_id, sale.id, changes);
                records.push(RowRecord {
                    // The whole sale as it was: a revert writes it back by its external id.
                    previous: old.map(|o| serde_json::to_string(o).unwrap_or_default()),
                    version_after: Some(sale.version),
                    ..record(w.import_id, &d)
                });
                out.push(d);
            }
            (ItemStatus::Unchanged, _) => {
                out.push(Decision::done(row, RowOutcome::Unchanged, client_id, r.id.unwrap_or_default(), Vec::new()))
            }
            _ => out.push(Decision::rejected(row, RowOutcome::Error, Some(client_id), r.errors.unwrap_or_default())),
        }
    }
    Ok(Outcome::new(w.import_id, out, records))
}

/// Undoes contact rows: the contacts the import created are deleted, the ones it changed get
/// their previous values back — each only while it is as the import left it.
pub fn undo_contacts(
    conn: &mut DbConn,
    rows: &[RowRecord],
    caller: &Caller,
    region: phonenumber::country::Id,
    summary: &mut RevertSummary,
) -> Result<(), ApiError> {
    for r in rows {
        let Some(id) = r.record_id else { continue };
        let current = match crate::contacts::get(conn, id, None) {
            Ok(c) => c,
            Err(ApiError::NotFound) => continue,
            Err(e) => return Err(e),
        };
        if Some(current.version) != r.version_after {
            summary.conflict(r.row_no, current.client_id, r.record_id, "changed after the import: left as it is");
            continue;
        }
        if r.outcome == RowOutcome::Create.as_str() {
            crate::contacts::delete(conn, id, Some(current.version), caller)?;
            summary.deleted += 1;
            continue;
        }
        let Some(patch) = r.previous.as_deref().and_then(|p| serde_json::from_str::<ContactPatch>(p).ok()) else {
            summary.conflict(r.row_no, current.client_id, r.record_id, "the previous values could not be read");
            continue;
        };
        match conn.transaction(|conn| crate::contacts::update(conn, id, patch, Some(current.version), caller, region)) {
            Ok(_) => summary.restored += 1,
            Err(e) => {
                row_fault(e)?;
                summary.conflict(r.row_no, current.client_id, r.record_id, "the previous values are no longer valid");
            }
        }
    }
    Ok(())
}

/// Undoes sale rows: the sales the import created are deleted, the ones it changed by their
/// external id (in `source`) are written back as they were — each only while it is as the
/// import left it.
pub fn undo_sales(
    conn: &mut DbConn,
    rows: &[RowRecord],
    source: Option<&str>,
    caller: &Caller,
    currency: &str,
    summary: &mut RevertSummary,
) -> Result<(), ApiError> {
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.record_id).collect();
    let current: HashMap<i64, Sale> = crate::sales::repo::by_ids(conn, &ids)?.into_iter().map(|s| (s.id, s)).collect();
    let mut restores = Vec::new();
    for r in rows {
        let Some(sale) = r.record_id.and_then(|id| current.get(&id)) else { continue };
        if Some(sale.version) != r.version_after {
            summary.conflict(r.row_no, sale.client_id, r.record_id, "changed after the import: left as it is");
            continue;
        }
        if r.outcome == RowOutcome::Create.as_str() {
            crate::sales::service::delete(conn, sale.id, Some(sale.version), caller)?;
            summary.deleted += 1;
            continue;
        }
        let old: Option<Value> = r.previous.as_deref().and_then(|p| serde_json::from_str(p).ok());
        let text = |v: &Value, f: &str| v.get(f).and_then(Value::as_str).map(String::from);
        let draft = old.as_ref().zip(source).and_then(|(v, source)| {
            Some(SaleDraft {
                index: restores.len(),
                client: Some(ClientRef::Id(v.get("client_id")?.as_i64()?)),
                key: Some((source.to_string(), sale.external_ids.get(source)?.clone())),
                external_ids: Default::default(),
                sold_on: v.get("sold_on").and_then(|d| serde_json::from_value(d.clone()).ok())?,
                amount: text(v, "amount")?,
                cost: text(v, "cost"),
                margin: None,
                currency: text(v, "currency"),
                document_number: text(v, "document_number"),
            })
        });
        match draft {
            Some(d) => restores.push((d, r)),
            None => summary.conflict(r.row_no, sale.client_id, r.record_id, "the previous values could not be read"),
        }
    }
    let (drafts, records): (Vec<SaleDraft>, Vec<&RowRecord>) = restores.into_iter().unzip();
    for result in crate::sales::service::apply(conn, drafts, source, caller, currency)? {
        match result.status {
            ItemStatus::Error => {
                let r = records[result.index];
                let client_id = r.record_id.and_then(|id| current.get(&id)).map_or(0, |s| s.client_id);
                summary.conflict(r.row_no, client_id, r.record_id, "the previous values are no longer valid");
            }
            _ => summary.restored += 1,
        }
    }
    Ok(())
}
