//! What every handler can reach: the pool, the settings, the authenticator and the counters.
//! Low in the tree on purpose: it names only shared kernels, never a domain or the wiring.

use actix_web::web;

use crate::auth::throttle::LoginThrottle;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::db::Pool;
use crate::metrics::Metrics;

pub struct AppState {
    pub pool: Pool,
    pub config: Config,
    /// Also registered as its own app data, where the [`crate::auth::Caller`] extractor finds it.
    pub auth: web::Data<Authenticator>,
    pub throttle: LoginThrottle,
    /// Also registered as its own app data, for the metrics middleware.
    pub metrics: web::Data<Metrics>,
    pub openapi_json: String,
    /// The leases on the `Idempotency-Key`s of this process's running requests.
    pub leases: std::sync::Arc<crate::idempotency::Leases>,
    /// On SQLite, this process's hold on the database file, which keeps a restore out.
    pub sqlite_lock: Option<std::sync::Arc<crate::db::backup::ServerLock>>,
    /// Also registered as its own app data, for the rate-limit middleware.
    pub rate_limiter: web::Data<crate::http::rate_limit::RateLimiter>,
    /// The sales reports' answers remembered at the current write generation.
    pub memo: std::sync::Arc<crate::memo::Memo>,
}
