//! The rules of deals: validation of what a deal names (client, contact, owner, stage, money),
//! creating, changing, moving through a pipeline and deleting, each move recorded in the stage
//! history and the event log.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::model::{Deal, DealPatch, DealRow, DealStatus, NewDeal, StageMove};
use crate::auth::Caller;
use crate::clients::repo as clients_repo;
use crate::custom_fields::{self, CustomEntity};
use crate::db::schema::{clients, contacts, deal_stage_history, deals, users};
use crate::db::{now, DbConn};
use crate::error::{ApiError, FieldErrors};
use crate::events::{self, NewEvent, Origin};
use crate::money;
use crate::pipelines::{self, StageKind, StageRow};
use crate::versioning::AtReadVersion;

use super::repo::{get_row, ENTITY};

fn parse_amount(value: &str, field: &str, errors: &mut FieldErrors) -> i64 {
    match money::parse_minor(value) {
        Ok(v) if v >= 0 => v,
        Ok(_) => {
            errors.add(field, "cannot be negative");
            0
        }
        Err(message) => {
            errors.add(field, message);
            0
        }
    }
}

fn check_currency(currency: &str, errors: &mut FieldErrors) {
    errors.check(
        currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()),
        "currency",
        "must be an ISO 4217 code like RUB",
    );
}

fn check_text(value: Option<&str>, field: &str, max: usize, errors: &mut FieldErrors) {
    if let Some(v) = value {
        let n = v.trim().chars().count();
        errors.check((1..=max).contains(&n), field, format_args!("must be 1 to {max} characters"));
    }
}

/// The owner must be an active user; a manager can only name themselves.
fn check_owner(conn: &mut DbConn, owner: Option<i64>, actor: &Caller, errors: &mut FieldErrors) -> QueryResult<()> {
    if let Some(me) = actor.own_clients_only() {
        errors.check(owner == Some(me), "owner_id", "a manager can only own deals themselves");
    }
    if let Some(owner) = owner {
        let active: Option<bool> = users::table.find(owner).select(users::active).first(conn).optional()?;
        errors.check(active == Some(true), "owner_id", "is not an active user");
    }
    Ok(())
}

fn check_contact(conn: &mut DbConn, contact: Option<i64>, client_id: i64, errors: &mut FieldErrors) -> QueryResult<()> {
    if let Some(contact) = contact {
        let found: i64 = contacts::table
            .filter(contacts::id.eq(contact))
            .filter(contacts::client_id.eq(client_id))
            .filter(contacts::deleted_at.is_null())
            .count()
            .get_result(conn)?;
        errors.check(found > 0, "contact_id", "is not a contact person of this client");
    }
    Ok(())
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn record_move(
    conn: &mut DbConn,
    deal: &DealRow,
    from: Option<i64>,
    actor: &Caller,
    channel: Option<String>,
) -> QueryResult<()> {
    diesel::insert_into(deal_stage_history::table)
        .values((
            deal_stage_history::deal_id.eq(deal.id),
            deal_stage_history::pipeline_id.eq(deal.pipeline_id),
            deal_stage_history::from_stage_id.eq(from),
            deal_stage_history::to_stage_id.eq(deal.stage_id),
            deal_stage_history::owner_id.eq(deal.owner_id),
            deal_stage_history::channel.eq(channel),
            deal_stage_history::changed_by.eq(actor.origin().actor),
            deal_stage_history::changed_at.eq(deal.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

fn emit(
    conn: &mut DbConn,
    origin: &Origin,
    event_type: &str,
    deal: &Deal,
    extra: Option<serde_json::Value>,
) -> QueryResult<()> {
    let payload = events::payload_with(deal, extra.unwrap_or_default());
    events::record(conn, origin, NewEvent { event_type, entity_type: ENTITY, entity_id: deal.id, payload })
}

/// The events of a deal entering a stage: the move itself and, when it closes, won or lost.
fn emit_move(conn: &mut DbConn, origin: &Origin, deal: &Deal, from: Option<i64>) -> QueryResult<()> {
    let extra = serde_json::json!({ "from_stage_id": from });
    if from.is_some() {
        emit(conn, origin, "deal.stage_changed", deal, Some(extra.clone()))?;
    }
    match deal.status {
        DealStatus::Won => emit(conn, origin, "deal.won", deal, Some(extra)),
        DealStatus::Lost => emit(conn, origin, "deal.lost", deal, Some(extra)),
        DealStatus::Open => Ok(()),
    }
}

/// A stage that can take deals: of `pipeline_id` and not archived.
fn usable_stage(conn: &mut DbConn, stage_id: i64, pipeline_id: i64) -> QueryResult<Option<StageRow>> {
    Ok(pipelines::stage(conn, stage_id)?.filter(|s| s.pipeline_id == pipeline_id && !s.archived))
}

pub fn create(
    conn: &mut DbConn,
    input: NewDeal,
    actor: &Caller,
    region: phonenumber::country::Id,
) -> Result<Deal, ApiError> {
    let mut errors = FieldErrors::new();
    let client = match clients_repo::get_row(conn, input.client_id, actor.own_clients_only()) {
        Ok(c) => Some(c),
        Err(ApiError::NotFound) => {
            errors.add("client_id", "is not a client you can see (deleted or unknown)");
            None
        }
        Err(e) => return Err(e),
    };
    check_text(Some(&input.title), "title", 300, &mut errors);
    check_text(input.source.as_deref(), "source", 200, &mut errors);
    let amount = parse_amount(input.amount.as_deref().unwrap_or("0"), "amount", &mut errors);
    let currency = input.currency.clone().unwrap_or_else(|| "RUB".into());
    check_currency(&currency, &mut errors);
    let owner = input.owner_id.or(actor.user_id);
    check_owner(conn, owner, actor, &mut errors)?;
    check_contact(conn, input.contact_id, input.client_id, &mut errors)?;
    let pipeline_id = match input.pipeline_id {
        Some(id) => id,
        None => {
            pipelines::default_id(conn)?.ok_or_else(|| ApiError::Conflict("there is no default pipeline".into()))?
        }
    };
    let stage = match input.stage_id {
        Some(stage_id) => usable_stage(conn, stage_id, pipeline_id)?,
        None => pipelines::stages_of(conn, pipeline_id)?
            .into_iter()
            .find(|s| !s.archived && StageKind::parse(&s.kind) == StageKind::Open),
    };
    let Some(stage) = stage else {
        let field = if input.stage_id.is_some() { "stage_id" } else { "pipeline_id" };
        return Err(errors.fail(field, format!("is not an active stage of pipeline {pipeline_id}")));
    };
    let status = DealStatus::of_stage(StageKind::parse(&stage.kind));
    let schema = custom_fields::repo::schema(conn, CustomEntity::Deal)?;
    let mut values = input.custom_fields.unwrap_or_default();
    custom_fields::service::check_record(conn, &schema, None, &mut values, None, region, &mut errors)?;
    let lost_reason = clean(input.lost_reason);
    errors.check(status != DealStatus::Lost || lost_reason.is_some(), "lost_reason", "is required for a lost stage");
    errors.check(status == DealStatus::Lost || lost_reason.is_none(), "lost_reason", "is only kept for lost deals");
    errors.into_result()?;
    let client = client.ok_or(ApiError::NotFound)?;
    let at = now();
    let row: DealRow = diesel::insert_into(deals::table)
        .values((
            deals::client_id.eq(client.id),
            deals::contact_id.eq(input.contact_id),
            deals::pipeline_id.eq(pipeline_id),
            deals::stage_id.eq(stage.id),
            deals::status.eq(status.as_str()),
            deals::title.eq(input.title.trim()),
            deals::amount.eq(amount),
            deals::currency.eq(&currency),
            deals::owner_id.eq(owner),
            deals::expected_close_date.eq(input.expected_close_date),
            deals::source.eq(clean(input.source)),
            deals::lost_reason.eq(&lost_reason),
            deals::custom_fields.eq(serde_json::to_string(&values).unwrap_or_default()),
            deals::closed_at.eq(if status == DealStatus::Open { None } else { Some(at) }),
            deals::version.eq(1i64),
            deals::created_at.eq(at),
            deals::updated_at.eq(at),
        ))
        .returning(deals::all_columns)
        .get_result(conn)?;
    custom_fields::repo::write_values(conn, &schema, &[(row.id, &values)], false)?;
    record_move(conn, &row, None, actor, client.channel.clone())?;
    let deal = Deal::from(row);
    emit(conn, &actor.origin(), "deal.created", &deal, None)?;
    emit_move(conn, &actor.origin(), &deal, None)?;
    Ok(deal)
}

#[derive(AsChangeset)]
#[diesel(table_name = deals)]
struct DealChanges {
    title: Option<String>,
    contact_id: Option<Option<i64>>,
    amount: Option<i64>,
    currency: Option<String>,
    owner_id: Option<Option<i64>>,
    expected_close_date: Option<Option<NaiveDate>>,
    source: Option<Option<String>>,
    lost_reason: Option<Option<String>>,
    custom_fields: Option<String>,
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: DealPatch,
    expected: Option<i64>,
    actor: &Caller,
    region: phonenumber::country::Id,
) -> Result<Deal, ApiError> {
    let current = get_row(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    let mut errors = FieldErrors::new();
    let schema = custom_fields::repo::schema(conn, CustomEntity::Deal)?;
    let values = match patch.custom_fields.clone() {
        Some(mut values) => {
            let previous: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&current.custom_fields).unwrap_or_default();
            let (id, previous) = (Some(id), Some(&previous));
            custom_fields::service::check_record(conn, &schema, id, &mut values, previous, region, &mut errors)?;
            Some(values)
        }
        None => None,
    };
    check_text(patch.title.as_deref(), "title", 300, &mut errors);
    let amount = patch.amount.as_deref().map(|a| parse_amount(a, "amount", &mut errors));
    if let Some(c) = &patch.currency {
        check_currency(c, &mut errors);
    }
    if let Some(owner) = patch.owner_id {
        check_owner(conn, owner, actor, &mut errors)?;
    }
    if let Some(contact) = patch.contact_id {
        check_contact(conn, contact, current.client_id, &mut errors)?;
    }
    let lost_reason = clean(patch.lost_reason.clone());
    if patch.lost_reason.is_some() {
        errors.check(current.status == DealStatus::Lost.as_str(), "lost_reason", "is only kept for lost deals");
        errors.check(lost_reason.is_some(), "lost_reason", "cannot be empty");
    }
    errors.into_result()?;
    let changes = DealChanges {
        title: patch.title.map(|t| t.trim().to_string()),
        contact_id: patch.contact_id,
        amount,
        currency: patch.currency,
        owner_id: patch.owner_id,
        expected_close_date: patch.expected_close_date,
        source: patch.source.map(clean),
        lost_reason: lost_reason.map(Some),
        custom_fields: values.as_ref().map(|c| serde_json::to_string(c).unwrap_or_default()),
    };
    let row: DealRow = diesel::update(deals::table.filter(deals::id.eq(id)).filter(deals::version.eq(current.version)))
        .set((changes, deals::version.eq(current.version + 1), deals::updated_at.eq(now())))
        .returning(deals::all_columns)
        .get_result(conn)
        .at_read_version()?;
    if let Some(values) = &values {
        custom_fields::repo::write_values(conn, &schema, &[(id, values)], true)?;
    }
    let deal = Deal::from(row);
    emit(conn, &actor.origin(), "deal.updated", &deal, None)?;
    Ok(deal)
}

pub fn move_stage(conn: &mut DbConn, id: i64, input: StageMove, actor: &Caller) -> Result<Deal, ApiError> {
    let current = get_row(conn, id, actor.own_clients_only())?;
    if current.stage_id == input.stage_id {
        return Ok(current.into());
    }
    let stage = usable_stage(conn, input.stage_id, current.pipeline_id)?.ok_or_else(|| {
        ApiError::field("stage_id", format!("is not an active stage of the deal's pipeline {}", current.pipeline_id))
    })?;
    let to = DealStatus::of_stage(StageKind::parse(&stage.kind));
    let from = DealStatus::parse(&current.status);
    if from != DealStatus::Open && to != DealStatus::Open {
        return Err(ApiError::Conflict(format!(
            "the deal is {}: reopen it by moving it to an open stage first",
            from.as_str()
        )));
    }
    let lost_reason = clean(input.lost_reason);
    if to == DealStatus::Lost && lost_reason.is_none() {
        return Err(ApiError::field("lost_reason", "is required when moving to a lost stage"));
    }
    let at = now();
    let row: DealRow = diesel::update(deals::table.filter(deals::id.eq(id)).filter(deals::version.eq(current.version)))
        .set((
            deals::stage_id.eq(stage.id),
            deals::status.eq(to.as_str()),
            deals::lost_reason.eq(if to == DealStatus::Lost { lost_reason } else { None }),
            deals::closed_at.eq(if to == DealStatus::Open { None } else { Some(at) }),
            deals::version.eq(current.version + 1),
            deals::updated_at.eq(at),
        ))
        .returning(deals::all_columns)
        .get_result(conn)
        .at_read_version()?;
    let channel: Option<String> = clients::table.find(row.client_id).select(clients::channel).first(conn)?;
    record_move(conn, &row, Some(current.stage_id), actor, channel)?;
    let deal = Deal::from(row);
    emit_move(conn, &actor.origin(), &deal, Some(current.stage_id))?;
    Ok(deal)
}

pub fn delete(conn: &mut DbConn, id: i64, expected: Option<i64>, actor: &Caller) -> Result<(), ApiError> {
    let current = get_row(conn, id, actor.own_clients_only())?;
    crate::versioning::expect(expected, current.version)?;
    let at = now();
    diesel::update(deals::table.find(id))
        .set((deals::deleted_at.eq(Some(at)), deals::updated_at.eq(at), deals::version.eq(current.version + 1)))
        .execute(conn)?;
    custom_fields::repo::remove_values(conn, CustomEntity::Deal, &[id])?;
    events::record(
        conn,
        &actor.origin(),
        NewEvent {
            event_type: "deal.deleted",
            entity_type: ENTITY,
            entity_id: id,
            payload: serde_json::json!({ "id": id, "client_id": current.client_id, "deleted_at": at.and_utc() })
                .to_string(),
        },
    )?;
    Ok(())
}
