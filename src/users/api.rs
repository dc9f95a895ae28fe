//! User handlers: create, list, read, change (role, password, extension), deactivate and hand
//! the user's clients to another.

use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::model::{NewUser, User, UserPatch};
use super::repo::{self, UserFilter, UserSort, USER_SORTS};
use crate::audit::{self, Entry};
use crate::auth::jwt::Subject;
use crate::auth::scopes::{Role, Scope};
use crate::auth::Caller;
use crate::clients::base::{Reassign, Reassigned};
use crate::db;
use crate::error::{validate, ApiError};
use crate::http::extract::{body_bytes, json_body, ApiJson, ApiQuery};
use crate::http::{created, if_match, ok_tagged};
use crate::pagination::{self, Page, Sort};
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_users).service(create_user).service(get_user).service(update_user).service(deactivate_user);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `created_at` (default) or `name`; prefix `-` for descending.
    #[param(pattern = "^-?(created_at|name)$")]
    pub sort: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
}

#[utoipa::path(
    tag = "users",
    operation_id = "list_users",
    params(UserListQuery),
    responses((status = 200, description = "A page of users", body = Page<User>)),
    security(("oauth2" = ["users:manage"]))
)]
#[get("/users")]
async fn list_users(
    state: web::Data<AppState>,
    auth: Caller,
    ApiQuery(q): ApiQuery<UserListQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    let limit = pagination::limit(q.limit)?;
    let sort = Sort::parse(q.sort.as_deref(), USER_SORTS, Sort { field: UserSort::CreatedAt, desc: false })?;
    let filter = UserFilter { role: q.role, active: q.active };
    let page = db::run(&state.pool, move |conn| repo::list(conn, &filter, sort, q.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page.map(User::from)))
}

#[utoipa::path(
    tag = "users",
    operation_id = "create_user",
    request_body = NewUser,
    responses(
        (status = 201, description = "The user was created", body = User),
        (status = 409, description = "The email is taken", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["users:manage"]))
)]
#[post("/users")]
async fn create_user(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewUser>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    validate(&input)?;
    let row = db::run(&state.pool, move |conn| repo::create(conn, &input)).await?;
    let (id, version) = (row.id, row.version);
    Ok(created(&User::from(row), format!("/api/v1/users/{id}"), id, version))
}

#[utoipa::path(
    tag = "users",
    operation_id = "get_user",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, description = "The user", body = User, headers(("ETag" = String)))),
    security(("oauth2" = ["users:manage"]))
)]
#[get("/users/{id}")]
async fn get_user(state: web::Data<AppState>, auth: Caller, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    let id = id.into_inner();
    let row = db::run(&state.pool, move |conn| repo::get(conn, id)).await?;
    Ok(ok_tagged(&User::from(row.clone()), row.id, row.version))
}

#[utoipa::path(
    tag = "users",
    operation_id = "update_user",
    params(
        ("id" = i64, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 if the user changed since"),
    ),
    request_body = UserPatch,
    responses(
        (status = 200, description = "The updated user", body = User, headers(("ETag" = String))),
        (status = 409, description = "The email is taken, or the last administrator would be demoted", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["users:manage"]))
)]
#[patch("/users/{id}")]
async fn update_user(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    validate(&patch)?;
    let id = id.into_inner();
    let expected = if_match(&req, id)?;
    let row = db::run_tx(&state.pool, move |conn| repo::update(conn, id, &patch, expected)).await?;
    state.auth.principals.evict(&Subject::User(id));
    Ok(ok_tagged(&User::from(row.clone()), row.id, row.version))
}

/// Optional body of a deactivation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deactivation {
    /// Hand every client, open deal and open task of the user to this user, in the same transaction.
    pub reassign_to: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deactivated {
    pub user: User,
    /// What moved to `reassign_to`, when given.
    pub reassigned: Option<Reassigned>,
}

#[utoipa::path(
    tag = "users",
    operation_id = "deactivate_user",
    params(("id" = i64, Path, description = "User id")),
    request_body(content = Option<Deactivation>, description = "Optional: whom to hand the user's clients to"),
    responses(
        (status = 200, description = "The user is deactivated; their tokens stop working", body = Deactivated),
        (status = 409, description = "Own account, or the last administrator", body = crate::error::Problem, content_type = "application/problem+json"),
    ),
    security(("oauth2" = ["users:manage"]))
)]
#[post("/users/{id}/deactivate")]
async fn deactivate_user(
    state: web::Data<AppState>,
    auth: Caller,
    req: HttpRequest,
    id: web::Path<i64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    let id = id.into_inner();
    let mut payload = payload.into_inner();
    let body = body_bytes(&req, &mut payload).await?;
    // The body is optional: none, only whitespace or `null` deactivates without handing
    // anything over.
    let input: Deactivation = if body.iter().all(|b| b.is_ascii_whitespace()) {
        Deactivation::default()
    } else {
        json_body::<Option<Deactivation>>(&req, &body)?.unwrap_or_default()
    };
    let by = auth.user_id;
    let origin = auth.origin();
    let (row, reassigned) = db::run_tx(&state.pool, move |conn| {
        let reassigned = match input.reassign_to {
            Some(to) => Some(crate::clients::base::reassign(
                conn,
                &Reassign { from_user_id: id, to_user_id: to, filter: None },
                &origin,
            )?),
            None => None,
        };
        let row = repo::deactivate(conn, id, by)?;
        let details = json!({ "reassigned": reassigned });
        audit::record(
            conn,
            &auth,
            Entry { action: "users.deactivate", allowed: true, target: Some(("user", id)), details },
        )?;
        Ok((row, reassigned))
    })
    .await?;
    state.auth.principals.evict(&Subject::User(id));
    Ok(HttpResponse::Ok().json(Deactivated { user: User::from(row), reassigned }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_pattern_lists_the_sorts_accepted() {
        let declared = crate::openapi::param_pattern::<UserListQuery>("sort");
        assert_eq!(declared, Some(Sort::<UserSort>::pattern(USER_SORTS)));
    }
}
