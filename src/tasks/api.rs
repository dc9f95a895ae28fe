//! Task handlers: a manager's day as `GET /tasks?assignee=me&due=today`, and creating,
//! changing and deleting tasks.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::model::{NewTask, Task, TaskFilter, TaskPatch, TaskSort, TaskStatus, TaskType, TASK_SORTS};
use super::{repo, service};
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page, Sort};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_tasks).service(create_task).service(get_task).service(update_task).service(delete_task);
}

/// A window of due dates.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Due {
    /// Due today (in `utc_offset`).
    Today,
    /// Open and past due.
    Overdue,
    /// Due from the start of today to seven days later.
    Week,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `due_at` (default) or `created_at`; prefix `-` for descending.
    #[param(pattern = "^-?(due_at|created_at)$")]
    pub sort: Option<String>,
    /// `me` or a user id.
    #[param(pattern = "^(me|-?[0-9]{1,18})$")]
    pub assignee: Option<String>,
    #[param(inline)]
    pub due: Option<Due>,
    /// The caller's offset from UTC for `due=today|week`, e.g. `+03:00`; default `+00:00`.
    #[param(pattern = "^[+-]([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub utc_offset: Option<String>,
    pub status: Option<TaskStatus>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub task_type: Option<TaskType>,
    pub client_id: Option<i64>,
    pub deal_id: Option<i64>,
}

fn filter_of(q: &TaskListQuery, auth: &Caller, now: DateTime<Utc>) -> Result<TaskFilter, ApiError> {
    let assignee_id = match q.assignee.as_deref() {
        None => None,
        Some("me") => Some(auth.user_id.ok_or_else(|| ApiError::query("assignee", "`me` needs a user's token"))?),
        Some(id) => Some(id.parse().map_err(|_| ApiError::query("assignee", "must be `me` or a user id"))?),
    };
    let offset: FixedOffset = match q.utc_offset.as_deref() {
        None => FixedOffset::east_opt(0).expect("zero offset"),
        Some(o) => o.parse().map_err(|_| ApiError::query("utc_offset", "must look like +03:00"))?,
    };
    let local_midnight = now
        .with_timezone(&offset)
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|m| m.and_local_timezone(offset).single())
        .map(|m| m.naive_utc())
        .ok_or_else(|| ApiError::query("utc_offset", "is out of range"))?;
    let mut filter = TaskFilter {
        owner_only: auth.own_clients_only(),
        assignee_id,
        status: q.status,
        task_type: q.task_type,
        client_id: q.client_id,
        deal_id: q.deal_id,
        due_from: None,
        due_to: None,
    };
    match q.due {
        Some(Due::Today) => {
            filter.due_from = Some(local_midnight);
            filter.due_to = Some(local_midnight + Duration::days(1));
        }
        Some(Due::Week) => {
            filter.due_from = Some(local_midnight);
            filter.due_to = Some(local_midnight + Duration::days(7));
        }
        Some(Due::Overdue) => {
            filter.status = Some(TaskStatus::Open);
            filter.due_to = Some(now.naive_utc());
        }
        None => {}
    }
    Ok(filter)
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "list_tasks",
    params(TaskListQuery),
    responses((status = 200, description = "A page of tasks, soonest due first", body = Page<Task>)),
    security(("oauth2" = ["deals:read"]))
)]
#[get("/tasks")]
async fn list_tasks(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<TaskListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsRead)?;
    let limit = pagination::limit(q.limit)?;
    let sort = Sort::parse(q.sort.as_deref(), TASK_SORTS, Sort { field: TaskSort::DueAt, desc: false })?;
    let filter = filter_of(&q, &auth, Utc::now())?;
    let page = db::run(&state.pool, move |conn| repo::list(conn, &filter, sort, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "create_task",
    request_body = NewTask,
    responses((status = 201, description = "The task", body = Task, headers(("ETag" = String), ("Location" = String)))),
    security(("oauth2" = ["deals:write"]))
)]
#[post("/tasks")]
async fn create_task(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewTask>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    let t = db::run_tx(&state.pool, move |conn| service::create(conn, input, &auth)).await?;
    Ok(created(&t, format!("/api/v1/tasks/{}", t.id), t.id, t.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "get_task",
    params(("id" = i64, Path, description = "Task id")),
    responses((status = 200, description = "The task", body = Task, headers(("ETag" = String)))),
    security(("oauth2" = ["deals:read"]))
)]
#[get("/tasks/{id}")]
async fn get_task(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsRead)?;
    let (id, owner_only) = (id.into_inner(), auth.own_clients_only());
    let t = db::run(&state.pool, move |conn| repo::get(conn, id, owner_only)).await?;
    Ok(ok_tagged(&t, t.id, t.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "update_task",
    params(
        ("id" = i64, Path, description = "Task id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the task changed since"),
    ),
    request_body = TaskPatch,
    responses((status = 200, description = "The task", body = Task, headers(("ETag" = String)))),
    security(("oauth2" = ["deals:write"]))
)]
#[patch("/tasks/{id}")]
async fn update_task(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<TaskPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let t = db::run_tx(&state.pool, move |conn| service::update(conn, id, patch, expected, &auth)).await?;
    Ok(ok_tagged(&t, t.id, t.version))
}

#[utoipa::path(
    tag = "funnel",
    operation_id = "delete_task",
    params(
        ("id" = i64, Path, description = "Task id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the task changed since"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "The task is done: it stays in the client's history", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["deals:write"]))
)]
#[delete("/tasks/{id}")]
async fn delete_task(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::DealsWrite)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    db::run_tx(&state.pool, move |conn| service::delete(conn, id, expected, &auth)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_pattern_lists_the_sorts_accepted() {
        let declared = crate::openapi::param_pattern::<TaskListQuery>("sort");
        assert_eq!(declared, Some(Sort::<TaskSort>::pattern(TASK_SORTS)));
    }
}
