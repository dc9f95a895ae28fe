//! API client handlers: create (the secret shown once), list, revoke.

use actix_web::{get, post, web, HttpResponse};

use super::{repo, ApiClient, ApiClientCreated, NewApiClient};
use crate::auth::jwt::Subject;
use crate::auth::scopes::Scope;
use crate::auth::Caller;
use crate::db;
use crate::error::{validate, ApiError};
use crate::http::extract::ApiJson;
use crate::state::AppState;

pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list_api_clients).service(create_api_client).service(get_api_client).service(revoke_api_client);
}

#[utoipa::path(
    tag = "users",
    operation_id = "list_api_clients",
    responses((status = 200, description = "All API clients, revoked ones included", body = Vec<ApiClient>)),
    security(("oauth2" = ["users:manage"]))
)]
#[get("/api-clients")]
async fn list_api_clients(state: web::Data<AppState>, auth: Caller) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    let rows = db::run(&state.pool, |conn| Ok(repo::list(conn)?)).await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(ApiClient::from).collect::<Vec<_>>()))
}

#[utoipa::path(
    tag = "users",
    operation_id = "create_api_client",
    request_body = NewApiClient,
    responses((status = 201, description = "The client and its secret, shown only now", body = ApiClientCreated)),
    security(("oauth2" = ["users:manage"]))
)]
#[post("/api-clients")]
async fn create_api_client(
    state: web::Data<AppState>,
    auth: Caller,
    ApiJson(input): ApiJson<NewApiClient>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    validate(&input)?;
    let by = auth.user_id;
    let (row, secret) = db::run(&state.pool, move |conn| repo::create(conn, &input, by)).await?;
    let id = row.id;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/api-clients/{id}")))
        .json(ApiClientCreated { client: row.into(), client_secret: secret }))
}

#[utoipa::path(
    tag = "users",
    operation_id = "get_api_client",
    params(("id" = i64, Path, description = "API client id")),
    responses((status = 200, description = "The API client", body = ApiClient)),
    security(("oauth2" = ["users:manage"]))
)]
#[get("/api-clients/{id}")]
async fn get_api_client(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    let id = id.into_inner();
    let row = db::run(&state.pool, move |conn| repo::get(conn, id)).await?;
    Ok(HttpResponse::Ok().json(ApiClient::from(row)))
}

#[utoipa::path(
    tag = "users",
    operation_id = "revoke_api_client",
    params(("id" = i64, Path, description = "API client id")),
    responses((status = 200, description = "Revoked: its tokens stop working and it can get no new ones", body = ApiClient)),
    security(("oauth2" = ["users:manage"]))
)]
#[post("/api-clients/{id}/revoke")]
async fn revoke_api_client(
    state: web::Data<AppState>,
    auth: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Scope::UsersManage)?;
    let id = id.into_inner();
    let row = db::run(&state.pool, move |conn| repo::revoke(conn, id)).await?;
    state.auth.principals.evict(&Subject::ApiClient(row.client_id.clone()));
    Ok(HttpResponse::Ok().json(ApiClient::from(row)))
}
