//! Authentication and authorisation: token issue and verification, scopes and roles, the
//! per-request [`AuthContext`] and the login throttle.

pub mod api;
pub mod jwt;
pub mod password;
pub mod scopes;
pub mod throttle;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use diesel::prelude::*;
use futures_util::future::LocalBoxFuture;

use crate::db::schema::{api_clients, users};
use crate::db::{self, Pool};
use crate::error::ApiError;
use crate::startup::AppState;
use jwt::Subject;
use scopes::{Role, Scope, ScopeSet};

/// The caller of a request, as proven by its bearer token and checked against the database.
#[derive(Debug, Clone)]
pub struct AuthContext {
    pub subject: Subject,
    /// Set for users; `None` for API clients.
    pub user_id: Option<i64>,
    pub role: Option<Role>,
    /// Set for API clients.
    pub api_client_id: Option<i64>,
    pub scopes: ScopeSet,
}

impl AuthContext {
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::MissingScope(scope.as_str()))
        }
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// `Some(user id)` when the caller may only see the clients they own (managers).
    pub fn own_clients_only(&self) -> Option<i64> {
        match self.role {
            Some(role) if !role.sees_all() => self.user_id,
            _ => None,
        }
    }

    /// How the caller is named in the event and audit logs.
    pub fn actor(&self) -> String {
        self.subject.to_claim()
    }
}

/// What the database says about a token's subject right now.
#[derive(Debug, Clone, Copy)]
struct Standing {
    active: bool,
    role: Option<Role>,
    api_client_id: Option<i64>,
}

/// Caches subjects' standing for a few seconds so that each request does not pay a lookup;
/// changes made through this server (deactivation, role change, revocation) evict at once.
pub struct PrincipalCache {
    ttl: Duration,
    entries: Mutex<HashMap<Subject, (Instant, Option<Standing>)>>,
}

impl PrincipalCache {
    pub fn new(ttl: Duration) -> PrincipalCache {
        PrincipalCache { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn get(&self, subject: &Subject) -> Option<Option<Standing>> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(subject).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, standing)| *standing)
    }

    fn put(&self, subject: Subject, standing: Option<Standing>) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(subject, (Instant::now(), standing));
    }

    pub fn evict(&self, subject: &Subject) {
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(subject);
    }
}

async fn standing(pool: &Pool, cache: &PrincipalCache, subject: &Subject) -> Result<Option<Standing>, ApiError> {
    if let Some(hit) = cache.get(subject) {
        return Ok(hit);
    }
    let key = subject.clone();
    let found = db::run(pool, move |conn| {
        Ok(match &key {
            Subject::User(id) => users::table
                .find(*id)
                .select((users::active, users::role))
                .first::<(bool, String)>(conn)
                .optional()?
                .map(|(active, role)| Standing { active, role: Role::parse(&role), api_client_id: None }),
            Subject::ApiClient(client_id) => api_clients::table
                .filter(api_clients::client_id.eq(client_id))
                .select((api_clients::id, api_clients::revoked_at))
                .first::<(i64, Option<chrono::NaiveDateTime>)>(conn)
                .optional()?
                .map(|(id, revoked)| Standing { active: revoked.is_none(), role: None, api_client_id: Some(id) }),
        })
    })
    .await?;
    cache.put(subject.clone(), found);
    Ok(found)
}

fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("a bearer token is required".into()))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not valid text".into()))?;
    let (scheme, token) =
        value.split_once(' ').ok_or_else(|| ApiError::Unauthorized("use Authorization: Bearer <token>".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized("use Authorization: Bearer <token>".into()));
    }
    Ok(token.trim().to_string())
}

/// The subject of the request's token when it verifies; used where a failure must not stop the
/// request (idempotency keys are scoped per subject).
pub fn verified_subject(req: &HttpRequest) -> Option<String> {
    let state = req.app_data::<web::Data<AppState>>()?;
    let token = bearer_token(req).ok()?;
    state.jwt.verify(&token).ok().map(|c| c.sub)
}

impl FromRequest for AuthContext {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let claims = state.jwt.verify(&token?).map_err(ApiError::Unauthorized)?;
            let subject = Subject::parse(&claims.sub)
                .ok_or_else(|| ApiError::Unauthorized("the token subject is not recognised".into()))?;
            let token_scopes = ScopeSet::parse_claim(&claims.scope)
                .map_err(|s| ApiError::Unauthorized(format!("the token carries an unknown scope {s}")))?;
            let standing = standing(&state.pool, &state.principals, &subject)
                .await?
                .filter(|s| s.active)
                .ok_or_else(|| ApiError::Unauthorized("the account is deactivated or revoked".into()))?;
            // A user's scopes follow their current role, so a demotion takes effect at once.
            let scopes = match standing.role {
                Some(role) => token_scopes.intersect(role.scopes()),
                None => token_scopes,
            };
            Ok(AuthContext {
                user_id: match subject {
                    Subject::User(id) => Some(id),
                    Subject::ApiClient(_) => None,
                },
                subject,
                role: standing.role,
                api_client_id: standing.api_client_id,
                scopes,
            })
        })
    }
}
