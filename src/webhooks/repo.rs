//! Webhook endpoint queries: create (with a new signing secret), change, rotate the secret,
//! disable and delete.

use diesel::prelude::*;

use super::model::{check_fields, NewWebhook, Webhook, WebhookPatch, WebhookRow, WebhookWithSecret};
use super::signing;
use crate::db::schema::webhooks;
use crate::db::{now, DbConn};
use crate::error::{ApiError, FieldErrors};

pub fn get(conn: &mut DbConn, id: i64) -> Result<WebhookRow, ApiError> {
    Ok(webhooks::table.find(id).select(WebhookRow::as_select()).first(conn)?)
}

pub fn by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<WebhookRow>> {
    webhooks::table.filter(webhooks::name.eq(name)).select(WebhookRow::as_select()).first(conn).optional()
}

pub fn list(conn: &mut DbConn) -> QueryResult<Vec<WebhookRow>> {
    webhooks::table.order(webhooks::id).select(WebhookRow::as_select()).load(conn)
}

/// Creates an endpoint (its URL already checked by the caller, which has to resolve it).
pub fn create(conn: &mut DbConn, input: NewWebhook, url_error: Option<String>) -> Result<WebhookWithSecret, ApiError> {
    let mut errors = FieldErrors::new();
    check_fields(Some(&input.name), input.event_types.as_deref(), &mut errors);
    if let Some(e) = url_error {
        errors.add("url", e);
    }
    errors.into_result()?;
    let secret = signing::new_secret();
    let at = now();
    // Never an id a deleted row had (SQLite's rowid would hand it out again).
    let id = crate::db::allocate_ids(conn, "webhooks", 1)?[0];
    let row: WebhookRow = diesel::insert_into(webhooks::table)
        .values((
            webhooks::id.eq(id),
            webhooks::name.eq(&input.name),
            webhooks::url.eq(&input.url),
            webhooks::description.eq(&input.description),
            webhooks::event_types
                .eq(serde_json::to_string(&input.event_types.unwrap_or_else(|| vec!["*".into()])).unwrap_or_default()),
            webhooks::mailing_provider.eq(input.mailing_provider),
            webhooks::active.eq(true),
            webhooks::secret.eq(&secret),
            webhooks::version.eq(1i64),
            webhooks::created_at.eq(at),
            webhooks::updated_at.eq(at),
        ))
        .returning(webhooks::all_columns)
        .get_result(conn)
        .map_err(|e| match ApiError::from(e) {
            ApiError::Conflict(_) => ApiError::Conflict(format!("a webhook named '{}' exists already", input.name)),
            other => other,
        })?;
    Ok(WebhookWithSecret { webhook: row.into(), secret })
}

#[derive(AsChangeset)]
#[diesel(table_name = webhooks)]
struct WebhookChanges {
    url: Option<String>,
    description: Option<String>,
    event_types: Option<String>,
    mailing_provider: Option<bool>,
    active: Option<bool>,
    disabled_reason: Option<Option<String>>,
}

pub fn update(
    conn: &mut DbConn,
    id: i64,
    patch: WebhookPatch,
    url_error: Option<String>,
    expected: Option<i64>,
) -> Result<Webhook, ApiError> {
    let current = get(conn, id)?;
    crate::versioning::expect(expected, current.version)?;
    let mut errors = FieldErrors::new();
    check_fields(None, patch.event_types.as_deref(), &mut errors);
    if let Some(e) = url_error {
        errors.add("url", e);
    }
    errors.into_result()?;
    let changes = WebhookChanges {
        url: patch.url,
        description: patch.description,
        event_types: patch.event_types.map(|t| serde_json::to_string(&t).unwrap_or_default()),
        mailing_provider: patch.mailing_provider,
        active: patch.active,
        disabled_reason: patch.active.filter(|a| *a).map(|_| None),
    };
    let row: WebhookRow = diesel::update(webhooks::table.find(id))
        .set((changes, webhooks::version.eq(current.version + 1), webhooks::updated_at.eq(now())))
        .returning(webhooks::all_columns)
        .get_result(conn)?;
    Ok(row.into())
}

/// A new secret; the old one keeps signing for `grace_hours` so receivers can switch over.
pub fn rotate(conn: &mut DbConn, id: i64, grace_hours: i64) -> Result<WebhookWithSecret, ApiError> {
    let current = get(conn, id)?;
    let secret = signing::new_secret();
    let at = now();
    let row: WebhookRow = diesel::update(webhooks::table.find(id))
        .set((
            webhooks::secret.eq(&secret),
            webhooks::previous_secret.eq(Some(current.secret)),
            webhooks::previous_secret_until.eq(Some(at + chrono::TimeDelta::hours(grace_hours))),
            webhooks::version.eq(current.version + 1),
            webhooks::updated_at.eq(at),
        ))
        .returning(webhooks::all_columns)
        .get_result(conn)?;
    Ok(WebhookWithSecret { webhook: row.into(), secret })
}

pub fn delete(conn: &mut DbConn, id: i64) -> Result<(), ApiError> {
    if diesel::delete(webhooks::table.find(id)).execute(conn)? == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// Disables an endpoint, saying why; its pending deliveries wait until it is enabled again.
pub fn disable(conn: &mut DbConn, id: i64, reason: &str) -> QueryResult<usize> {
    diesel::update(webhooks::table.find(id))
        .set((webhooks::active.eq(false), webhooks::disabled_reason.eq(Some(reason)), webhooks::updated_at.eq(now())))
        .execute(conn)
}
