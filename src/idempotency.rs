//! `Idempotency-Key` on POST: the first response for a key is stored and replayed for every
//! repeat of the same request; the same key with a different request is refused (422), and a
//! repeat while the first is still running gets 409. Keys are per caller and kept for a day.
//!
//! A running request holds its key by a lease: the process renews the leases of its running
//! requests every third of the lease, so a key whose process died (kill -9, a lost machine) is
//! free again once the lease runs out, and a retry then runs the request afresh.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse, ResponseError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::auth::verified_subject;
use crate::db::schema::idempotency_keys;
use crate::db::{self, now, DbConn};
use crate::error::ApiError;
use crate::http::extract::body_bytes;
use crate::state::AppState;

pub const HEADER: &str = "Idempotency-Key";
const REPLAYED: &str = "Idempotent-Replayed";
const KEEP_HOURS: i64 = 24;
/// Response headers worth replaying.
const KEPT_HEADERS: [header::HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// This process's hold on the keys of its running requests.
pub struct Leases {
    /// The name this process writes into `idempotency_keys.owner`, new at every start.
    owner: String,
    lease: TimeDelta,
    /// The keys of the requests running here; only theirs are renewed.
    running: Mutex<HashMap<String, usize>>,
}

impl Leases {
    pub fn new(lease_secs: i64) -> Leases {
        Leases {
            owner: uuid::Uuid::new_v4().simple().to_string(),
            lease: TimeDelta::seconds(lease_secs),
            running: Mutex::default(),
        }
    }

    /// How often [`Leases::renew`] must run for a live process never to lose a key.
    pub fn renewal_interval(&self) -> std::time::Duration {
        (self.lease / 3).to_std().unwrap_or(std::time::Duration::from_secs(1))
    }

    /// Extends the leases of this process's running requests, in one statement.
    pub fn renew(&self, conn: &mut DbConn) -> QueryResult<usize> {
        let keys: Vec<String> = self.running.lock().map(|r| r.keys().cloned().collect()).unwrap_or_default();
        if keys.is_empty() {
            return Ok(0);
        }
        diesel::update(
            idempotency_keys::table
                .filter(idempotency_keys::owner.eq(&self.owner))
                .filter(idempotency_keys::key.eq_any(keys))
                .filter(idempotency_keys::status_code.is_null()),
        )
        .set(idempotency_keys::lease_until.eq(now() + self.lease))
        .execute(conn)
    }
}

/// A key renewed while its request runs here. A request cancelled mid-way (its client went away)
/// drops it: its work may still be finishing, so the key is not given back at once but lapses
/// with its lease, and a retry after that runs the request afresh.
struct Running {
    leases: Arc<Leases>,
    key: String,
}

impl Running {
    fn start(leases: &Arc<Leases>, key: &str) -> Running {
        if let Ok(mut running) = leases.running.lock() {
            *running.entry(key.to_string()).or_default() += 1;
        }
        Running { leases: leases.clone(), key: key.to_string() }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut running) = self.leases.running.lock() {
            if let Some(n) = running.get_mut(&self.key) {
                *n -= 1;
                if *n == 0 {
                    running.remove(&self.key);
                }
            }
        }
    }
}

enum Claim {
    /// The key is new: this request runs and its response is stored.
    Fresh,
    Replay {
        status: u16,
        headers: String,
        body: String,
    },
}

/// A key already seen: its request hash and, once the first request finished, its response.
#[derive(Queryable)]
struct Seen {
    request_hash: String,
    status_code: Option<i32>,
    response_headers: Option<String>,
    response_body: Option<String>,
    created_at: chrono::NaiveDateTime,
    lease_until: Option<chrono::NaiveDateTime>,
}

fn still_running() -> ApiError {
    ApiError::Conflict(format!("a request with this {HEADER} is still being processed; retry later"))
}

fn claim(
    conn: &mut DbConn,
    leases: &Leases,
    principal: &str,
    key: &str,
    path: &str,
    hash: &str,
) -> Result<Claim, ApiError> {
    let existing: Option<Seen> = idempotency_keys::table
        .filter(idempotency_keys::principal.eq(principal))
        .filter(idempotency_keys::key.eq(key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::status_code,
            idempotency_keys::response_headers,
            idempotency_keys::response_body,
            idempotency_keys::created_at,
            idempotency_keys::lease_until,
        ))
        .first(conn)
        .optional()?;
    match existing {
        Some(seen) if seen.created_at < now() - TimeDelta::hours(KEEP_HOURS) => {
            release(conn, principal, key)?;
        }
        Some(seen) if seen.request_hash != hash => {
            return Err(ApiError::Unprocessable(format!(
                "the {HEADER} was already used with a different request; use a new key"
            )))
        }
        Some(Seen { status_code: None, lease_until, .. }) => {
            if lease_until.is_some_and(|until| until >= now()) {
                return Err(still_running());
            }
            // Its process died: the key is taken over, by one retry only (the update is
            // conditional on the lease still being out).
            let expired = idempotency_keys::lease_until.is_null().or(idempotency_keys::lease_until.lt(now()));
            let taken = diesel::update(
                idempotency_keys::table
                    .filter(idempotency_keys::principal.eq(principal))
                    .filter(idempotency_keys::key.eq(key))
                    .filter(idempotency_keys::status_code.is_null())
                    .filter(expired),
            )
            .set((idempotency_keys::owner.eq(&leases.owner), idempotency_keys::lease_until.eq(now() + leases.lease)))
            .execute(conn)?;
            return if taken == 1 { Ok(Claim::Fresh) } else { Err(still_running()) };
        }
        Some(Seen { status_code: Some(status), response_headers, response_body, .. }) => {
            return Ok(Claim::Replay {
                status: status as u16,
                headers: response_headers.unwrap_or_default(),
                body: response_body.unwrap_or_default(),
            })
        }
        None => {}
    }
    let inserted = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::principal.eq(principal),
            idempotency_keys::key.eq(key),
            idempotency_keys::request_path.eq(path),
            idempotency_keys::request_hash.eq(hash),
            idempotency_keys::created_at.eq(now()),
            idempotency_keys::owner.eq(&leases.owner),
            idempotency_keys::lease_until.eq(now() + leases.lease),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(Claim::Fresh),
        // A concurrent request with the same key won the insert.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Err(still_running())
        }
        Err(e) => Err(e.into()),
    }
}

fn release(conn: &mut DbConn, principal: &str, key: &str) -> QueryResult<usize> {
    diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::principal.eq(principal)).filter(idempotency_keys::key.eq(key)),
    )
    .execute(conn)
}

fn store(conn: &mut DbConn, principal: &str, key: &str, status: u16, headers: &str, body: &str) -> QueryResult<usize> {
    diesel::update(
        idempotency_keys::table.filter(idempotency_keys::principal.eq(principal)).filter(idempotency_keys::key.eq(key)),
    )
    .set((
        idempotency_keys::status_code.eq(Some(status as i32)),
        idempotency_keys::response_headers.eq(Some(headers)),
        idempotency_keys::response_body.eq(Some(body)),
    ))
    .execute(conn)
}

/// Deletes keys older than a day; run periodically.
pub fn purge_expired(conn: &mut DbConn) -> QueryResult<usize> {
    diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::created_at.lt(now() - TimeDelta::hours(KEEP_HOURS))),
    )
    .execute(conn)
}

fn request_hash(req: &ServiceRequest, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(req.method().as_str());
    h.update(b" ");
    h.update(req.path());
    h.update(b"?");
    h.update(req.query_string());
    h.update(b"\n");
    h.update(body);
    format!("{:x}", h.finalize())
}

fn replay(req: ServiceRequest, status: u16, headers: &str, body: String) -> ServiceResponse<BoxBody> {
    let mut res = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    let stored: Vec<(String, String)> = serde_json::from_str(headers).unwrap_or_default();
    for (name, value) in stored {
        res.insert_header((name, value));
    }
    res.insert_header((REPLAYED, "true"));
    req.into_response(res.body(body))
}

fn refuse(req: ServiceRequest, e: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(e.error_response())
}

pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let key = match req.headers().get(HEADER) {
        Some(v) if req.method() == Method::POST => v.to_str().map(|s| s.trim().to_string()),
        _ => return next.call(req).await.map(|r| r.map_into_boxed_body()),
    };
    let key = match key {
        Ok(k) if !k.is_empty() && k.len() <= 200 => k,
        _ => return Ok(refuse(req, ApiError::BadRequest(format!("{HEADER} must be 1 to 200 visible characters")))),
    };
    let (Some(state), Some(principal)) =
        (req.app_data::<web::Data<AppState>>().cloned(), verified_subject(req.request()))
    else {
        // Without a valid token the handler answers 401; there is nothing to remember.
        return next.call(req).await.map(|r| r.map_into_boxed_body());
    };
    let body = {
        let (http_req, payload) = req.parts_mut();
        match body_bytes(http_req, payload).await {
            Ok(b) => b,
            Err(e) => return Ok(refuse(req, e)),
        }
    };
    let hash = request_hash(&req, &body);
    let path = req.path().to_string();
    let (p, k, leases) = (principal.clone(), key.clone(), state.leases.clone());
    let claimed = db::run(&state.pool, move |conn| claim(conn, &leases, &p, &k, &path, &hash)).await;
    match claimed {
        Err(e) => return Ok(refuse(req, e)),
        Ok(Claim::Replay { status, headers, body }) => return Ok(replay(req, status, &headers, body)),
        Ok(Claim::Fresh) => {}
    }
    req.set_payload(Payload::from(body));
    // Renewed until the response is stored (or the request is cancelled).
    let _running = Running::start(&state.leases, &key);
    let res = next.call(req).await;
    let res = match res {
        Ok(res) => res,
        Err(e) => {
            // Not a response to remember: the key is given back for a retry.
            let (p, k) = (principal, key);
            if let Err(e) = db::run(&state.pool, move |conn| Ok(release(conn, &p, &k)?)).await {
                tracing::warn!(error = %e, "could not release an idempotency key");
            }
            return Err(e);
        }
    };
    let status = res.status();
    let (http_req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = to_bytes(body).await.map_err(|_| ApiError::internal("response body could not be read"))?;
    let (p, k) = (principal, key);
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::UNAUTHORIZED {
        // Transient outcomes are not remembered: the client may retry with the same key.
        if let Err(e) = db::run(&state.pool, move |conn| Ok(release(conn, &p, &k)?)).await {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
    } else {
        let headers: Vec<(String, String)> = KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                head.headers().get(name).and_then(|v| v.to_str().ok()).map(|v| (name.to_string(), v.to_string()))
            })
            .collect();
        let headers = serde_json::to_string(&headers).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        // The change is committed whatever happens here; a lost record only means a repeat
        // of the key will be refused as still in progress until it expires.
        if let Err(e) =
            db::run(&state.pool, move |conn| Ok(store(conn, &p, &k, status.as_u16(), &headers, &text)?)).await
        {
            tracing::warn!(error = %e, "could not store an idempotent response");
        }
    }
    Ok(ServiceResponse::new(http_req, head.set_body(bytes).map_into_boxed_body()))
}
