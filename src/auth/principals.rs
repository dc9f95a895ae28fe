//! Who a verified token speaks for right now: the [`Authenticator`] checks a bearer token and
//! looks its subject up (active user and role, unrevoked API client), caching the answer briefly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest};
use diesel::prelude::*;

use super::jwt::{Claims, JwtKeys, Subject};
use super::scopes::Role;
use crate::db::schema::{api_clients, users};
use crate::db::{self, Pool};
use crate::error::ApiError;

/// What the database says about a token's subject right now.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    pub active: bool,
    pub role: Option<Role>,
    pub api_client_id: Option<i64>,
}

/// How long another replica may go on trusting a subject's cached standing: a deactivation,
/// demotion or revocation made elsewhere takes effect here within this delay. The cost is one
/// primary-key lookup per active subject per half second.
pub const REVOCATION_DELAY: Duration = Duration::from_millis(500);

/// Caches subjects' standing briefly so that each request does not pay a lookup; changes made
/// through this server (deactivation, role change, revocation) evict at once, other replicas'
/// entries expire within [`REVOCATION_DELAY`].
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

/// Everything needed to turn a bearer token into a caller; registered as its own app data so
/// that the extractor needs nothing from the application's wiring.
pub struct Authenticator {
    pub pool: Pool,
    pub jwt: JwtKeys,
    pub principals: PrincipalCache,
}

impl Authenticator {
    pub async fn standing(&self, subject: &Subject) -> Result<Option<Standing>, ApiError> {
        if let Some(hit) = self.principals.get(subject) {
            return Ok(hit);
        }
        let key = subject.clone();
        let found = db::run(&self.pool, move |conn| {
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
        self.principals.put(subject.clone(), found);
        Ok(found)
    }
}

pub fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
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

/// The outcome of checking a request's token, kept in the request's extensions: the rate
/// limiter, the idempotency guard and the caller all ask, and only the first pays for the
/// signature check and the parse.
#[derive(Clone)]
struct Verified(Result<Claims, String>);

/// The claims of the request's bearer token once verified (signature, algorithm, expiry, issuer,
/// audience); checked once per request however many parts ask.
pub fn verified_claims(req: &HttpRequest) -> Result<Claims, ApiError> {
    if let Some(Verified(outcome)) = req.extensions().get::<Verified>() {
        return outcome.clone().map_err(ApiError::Unauthorized);
    }
    let auth = req
        .app_data::<actix_web::web::Data<Authenticator>>()
        .ok_or_else(|| ApiError::internal("authenticator missing"))?;
    let outcome = auth.jwt.verify(&bearer_token(req)?);
    req.extensions_mut().insert(Verified(outcome.clone()));
    outcome.map_err(ApiError::Unauthorized)
}

/// The subject of the request's token when it verifies; used where a failure must not stop the
/// request (idempotency keys are scoped per subject).
pub fn verified_subject(req: &HttpRequest) -> Option<String> {
    verified_claims(req).ok().map(|c| c.sub)
}
