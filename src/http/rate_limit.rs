//! Rate limits per caller and route class, announced on every API response with the IETF
//! `RateLimit-Policy` and `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers) and
//! enforced with 429 and `Retry-After`. The caller is the verified token's subject (a user or
//! an API client), or the client address for the token endpoint and requests without a valid
//! token. Windows are fixed (aligned to the epoch). Each process counts locally and adds its
//! counts to `rate_counts` four times a second, reading back the total of every replica, so the
//! limit holds across replicas; between two flushes a replica may let through at most what its
//! callers send in a quarter of a second beyond the quota.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use diesel::prelude::*;

use crate::auth::verified_subject;
use crate::config::{Quota, RateLimits};
use crate::db::schema::rate_counts;
use crate::db::{self, DbConn};
use crate::error::ApiError;

/// How often a process adds its counts to the shared ones.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// `POST /auth/token`, counted per client address.
    Token,
    /// Sync, imports, export and batch endpoints.
    Bulk,
    Default,
}

impl Class {
    pub fn of(path: &str) -> Class {
        let Some(rest) = path.strip_prefix("/api/v1/") else { return Class::Default };
        if rest == "auth/token" {
            Class::Token
        } else if rest.starts_with("sync/")
            || rest == "imports"
            || rest.starts_with("imports/")
            || rest == "clients/export"
            || rest == "sales/batch"
        {
            Class::Bulk
        } else {
            Class::Default
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::Token => "token",
            Class::Bulk => "bulk",
            Class::Default => "default",
        }
    }
}

/// What one request was allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset: u32,
}

#[derive(Debug)]
struct Count {
    window: i64,
    /// Every replica's requests in this window as of the last flush.
    shared: i64,
    /// This process's requests being added to the shared count by a flush under way.
    flushing: i64,
    /// This process's requests since the last flush began.
    unflushed: i64,
}

impl Count {
    fn new(window: i64) -> Count {
        Count { window, shared: 0, flushing: 0, unflushed: 0 }
    }
}

pub struct RateLimiter {
    limits: RateLimits,
    counts: Mutex<HashMap<(Class, String), Count>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter { limits, counts: Mutex::default() }
    }

    pub fn quota(&self, class: Class) -> Option<Quota> {
        match class {
            Class::Token => self.limits.token,
            Class::Bulk => self.limits.bulk,
            Class::Default => self.limits.default,
        }
    }

    /// Counts a request of `subject` at `now` (Unix seconds) unless its quota is used up.
    pub fn hit(&self, class: Class, subject: &str, quota: Quota, now: i64) -> Decision {
        let width = i64::from(quota.window_secs);
        let window = now - now.rem_euclid(width);
        let reset = (window + width - now) as u32;
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry((class, subject.to_string())).or_insert(Count::new(window));
        if count.window != window {
            *count = Count::new(window);
        }
        let used = count.shared + count.flushing + count.unflushed;
        if used >= i64::from(quota.requests) {
            return Decision { allowed: false, remaining: 0, reset };
        }
        count.unflushed += 1;
        Decision { allowed: true, remaining: (i64::from(quota.requests) - used - 1) as u32, reset }
    }

    /// Adds this process's counts to the shared ones and learns every replica's totals; forgets
    /// windows that ended.
    pub fn flush(&self, conn: &mut DbConn, now: i64) -> Result<(), ApiError> {
        let mut pending: Vec<(Class, String, i64, i64)> = {
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            counts.retain(|(class, _), c| {
                let width = self.quota(*class).map_or(0, |q| i64::from(q.window_secs));
                c.unflushed > 0 || c.window + width > now
            });
            counts
                .iter_mut()
                .filter(|(_, c)| c.unflushed > 0)
                .map(|((class, subject), c)| {
                    c.flushing = std::mem::take(&mut c.unflushed);
                    (*class, subject.clone(), c.window, c.flushing)
                })
                .collect()
        };
        if pending.is_empty() {
            return Ok(());
        }
        // One order on every replica, so that two flushes never wait on each other's rows.
        pending.sort();
        let written = db::write_tx(conn, |conn| {
            pending
                .iter()
                .map(|(class, subject, window, delta)| add(conn, class.name(), subject, *window, *delta))
                .collect::<Result<Vec<i64>, ApiError>>()
        });
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for (i, (class, subject, window, delta)) in pending.into_iter().enumerate() {
            let Some(count) = counts.get_mut(&(class, subject)).filter(|c| c.window == window) else { continue };
            count.flushing = 0;
            match &written {
                // The total includes what this flush added.
                Ok(totals) => count.shared = count.shared.max(totals[i]),
                // Counted again at the next flush.
                Err(_) => count.unflushed += delta,
            }
        }
        written.map(|_| ())
    }
}

/// Adds `delta` to a shared count and returns its total.
fn add(conn: &mut DbConn, class: &str, subject: &str, window: i64, delta: i64) -> Result<i64, ApiError> {
    let row = rate_counts::table
        .filter(rate_counts::class.eq(class))
        .filter(rate_counts::subject.eq(subject))
        .filter(rate_counts::window_start.eq(window));
    let update =
        || diesel::update(row).set(rate_counts::hits.eq(rate_counts::hits + delta)).returning(rate_counts::hits);
    if let Some(total) = update().get_result::<i64>(conn).optional()? {
        return Ok(total);
    }
    // In a savepoint: another replica may insert the same row first.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(rate_counts::table)
            .values((
                rate_counts::class.eq(class),
                rate_counts::subject.eq(subject),
                rate_counts::window_start.eq(window),
                rate_counts::hits.eq(delta),
            ))
            .execute(conn)
    });
    match inserted {
        Ok(_) => Ok(delta),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(update().get_result::<i64>(conn)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Removes the shared counts of windows that ended before `before` (Unix seconds).
pub fn purge(conn: &mut DbConn, before: i64) -> Result<usize, ApiError> {
    Ok(diesel::delete(rate_counts::table.filter(rate_counts::window_start.lt(before))).execute(conn)?)
}

/// Who is counted: the verified token's subject, else the client address.
fn subject(req: &ServiceRequest, class: Class) -> String {
    let subject = (class != Class::Token).then(|| verified_subject(req.request())).flatten();
    subject.unwrap_or_else(|| format!("address:{}", req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default()))
}

fn headers(res: &mut actix_web::HttpResponse<impl MessageBody>, class: Class, quota: Quota, decision: Decision) {
    let name = class.name();
    let policy = format!("\"{name}\";q={};w={}", quota.requests, quota.window_secs);
    let state = format!("\"{name}\";r={};t={}", decision.remaining, decision.reset);
    for (key, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            res.headers_mut().insert(HeaderName::from_static(key), value);
        }
    }
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limiter = req.app_data::<web::Data<RateLimiter>>().cloned();
    let class = Class::of(req.path());
    let quota = limiter.as_ref().filter(|_| req.path().starts_with("/api/")).and_then(|l| Some((l, l.quota(class)?)));
    let Some((limiter, quota)) = quota else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let decision = limiter.hit(class, &subject(&req, class), quota, chrono::Utc::now().timestamp());
    if !decision.allowed {
        let detail = format!(
            "more than {} requests in {} s ({} limit); retry in {} s",
            quota.requests,
            quota.window_secs,
            class.name(),
            decision.reset
        );
        let mut res = ApiError::TooManyRequests { detail, retry_after: u64::from(decision.reset) }.error_response();
        headers(&mut res, class, quota, decision);
        return Ok(req.into_response(res).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    headers(res.response_mut(), class, quota, decision);
    Ok(res.map_into_left_body())
}
