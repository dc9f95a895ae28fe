//! Every setting, its default and the environment variable it comes from. A bad value stops
//! start-up with one line naming the variable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { var, message: message.into() }
}

#[derive(Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// `None` means: use (or create) the secret file in the data directory.
    pub jwt_secret: Option<String>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub token_ttl_secs: u64,
    pub pool_size: u32,
    pub workers: usize,
    pub phone_region: phonenumber::country::Id,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    pub cors_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// Seconds a request body is given to arrive, plus one per 100 KiB it declares.
    pub body_timeout_secs: u64,
    pub log_format: LogFormat,
    /// How long a manager may still edit an activity they logged.
    pub activity_edit_hours: i64,
    /// The currency of sales (ISO 4217); analytics add amounts up in it.
    pub currency: String,
    /// Hosts and networks webhooks may target although they are private or loopback.
    pub webhook_allowed: crate::http::ssrf::AllowList,
    pub webhook_timeout_secs: u64,
    /// Seconds to wait before each retry of a failed delivery.
    pub webhook_retry_schedule: Vec<u64>,
    /// Whether this process delivers webhooks (every replica may).
    pub webhook_worker: bool,
    /// How long the previous secret stays valid after a rotation.
    pub webhook_secret_grace_hours: i64,
    /// Whether this process runs automations (every replica may: each slot runs once).
    pub automation_worker: bool,
    /// Subjects an automation run acts on per transaction.
    pub automation_batch: usize,
    /// A pause between an automation run's batches, to leave the database to people.
    pub automation_batch_pause_ms: u64,
    /// How long a run stays its process's without a batch committed; after that another
    /// process takes it over (its process is presumed dead).
    pub automation_lease_secs: i64,
    /// Whether this process runs imports (every replica may: each import is leased to one).
    pub import_worker: bool,
    /// The largest spreadsheet accepted for import, in bytes.
    pub import_max_bytes: usize,
    /// Rows an import applies per transaction.
    pub import_batch: usize,
    /// Batches of one import applied side by side.
    pub import_workers: usize,
    /// How long a running import stays its process's without a batch committed.
    pub import_lease_secs: i64,
    /// How long an `Idempotency-Key` stays claimed by a process that stopped renewing it.
    pub idempotency_lease_secs: i64,
    /// Requests per window for the token endpoint (per address), bulk endpoints and the rest
    /// (per caller); `None` turns a class's limit off.
    pub rate_limits: RateLimits,
}

/// `N/S`: at most `N` requests in each window of `S` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub requests: u32,
    pub window_secs: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub token: Option<Quota>,
    pub bulk: Option<Quota>,
    pub default: Option<Quota>,
}

impl RateLimits {
    pub const OFF: RateLimits = RateLimits { token: None, bulk: None, default: None };
}

fn quota(name: &'static str, value: Option<&str>, default: Quota) -> Result<Option<Quota>, ConfigError> {
    let Some(v) = value else { return Ok(Some(default)) };
    if v == "0" || v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let parsed =
        v.split_once('/').and_then(|(n, s)| Some((n.trim().parse::<u32>().ok()?, s.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((requests, window_secs)) if requests >= 1 && (1..=86_400).contains(&window_secs) => {
            Ok(Some(Quota { requests, window_secs }))
        }
        _ => Err(err(name, format!("'{v}' must be REQUESTS/SECONDS like 600/60, or off"))),
    }
}

impl std::fmt::Debug for Config {
    // Hand-written so that secrets never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database", &redact_url(&self.database_url))
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("pool_size", &self.pool_size)
            .field("phone_region", &self.phone_region)
            .field("cors_origins", &self.cors_origins)
            .finish_non_exhaustive()
    }
}

/// Retries after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h: about 28 hours in all.
pub const DEFAULT_RETRY_SCHEDULE: [u64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Config::from_vars(&vars)
    }

    /// Reads the settings from a variable map (the process environment in `main`).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let bind = match get("CLIENTBASE_BIND") {
            Some(v) => v
                .parse()
                .map_err(|_| err("CLIENTBASE_BIND", format!("'{v}' is not a socket address like 127.0.0.1:8080")))?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let data_dir = PathBuf::from(get("CLIENTBASE_DATA_DIR").unwrap_or("./data"));
        let database_url = match get("DATABASE_URL") {
            Some(v) if v.starts_with("postgres://") || v.starts_with("postgresql://") => v.to_string(),
            Some(v) if v.starts_with("sqlite:") => v.to_string(),
            Some(v) => {
                return Err(err(
                    "DATABASE_URL",
                    format!("'{}' must start with postgres:// or sqlite://", redact_url(v)),
                ))
            }
            None => format!("sqlite://{}", data_dir.join("clientbase.db").display()),
        };
        let jwt_secret = match get("CLIENTBASE_JWT_SECRET") {
            Some(v) if v.len() < 32 => return Err(err("CLIENTBASE_JWT_SECRET", "must be at least 32 characters")),
            v => v.map(str::to_string),
        };
        let number = |name: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(n),
                    _ => Err(err(name, format!("'{v}' must be a whole number from {min} to {max}"))),
                },
            }
        };
        let token_ttl_secs = number("CLIENTBASE_TOKEN_TTL_SECS", 3600, 60, 86_400)?;
        let pool_size = number("CLIENTBASE_DB_POOL_SIZE", 10, 1, 500)? as u32;
        let default_workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let workers = number("CLIENTBASE_WORKERS", default_workers as u64, 1, 256)? as usize;
        let max_body_bytes = number("CLIENTBASE_MAX_BODY_BYTES", 4 * 1024 * 1024, 1024, 256 * 1024 * 1024)? as usize;
        let body_timeout_secs = number("CLIENTBASE_BODY_TIMEOUT_SECS", 30, 1, 3600)?;
        let phone_region = match get("CLIENTBASE_PHONE_REGION") {
            None => phonenumber::country::Id::RU,
            Some(v) => v
                .to_ascii_uppercase()
                .parse()
                .map_err(|_| err("CLIENTBASE_PHONE_REGION", format!("'{v}' is not a two-letter country code")))?,
        };
        let admin_email = match get("CLIENTBASE_ADMIN_EMAIL") {
            Some(v) if !crate::normalize::email::looks_like_email(v) => {
                return Err(err("CLIENTBASE_ADMIN_EMAIL", format!("'{v}' is not an email address")))
            }
            v => v.map(|v| v.to_lowercase()),
        };
        let admin_password = match get("CLIENTBASE_ADMIN_PASSWORD") {
            Some(v) if v.chars().count() < 10 => {
                return Err(err("CLIENTBASE_ADMIN_PASSWORD", "must be at least 10 characters"))
            }
            v => v.map(str::to_string),
        };
        let cors_origins = match get("CLIENTBASE_CORS_ORIGINS") {
            None => Vec::new(),
            Some(v) => {
                let origins: Vec<String> =
                    v.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect();
                if let Some(bad) = origins.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://"))) {
                    return Err(err("CLIENTBASE_CORS_ORIGINS", format!("'{bad}' is not an http(s) origin")));
                }
                origins
            }
        };
        let activity_edit_hours = number("CLIENTBASE_ACTIVITY_EDIT_HOURS", 24, 0, 8760)? as i64;
        let currency = match get("CLIENTBASE_CURRENCY") {
            None => "RUB".to_string(),
            Some(v) if v.len() == 3 && v.bytes().all(|b| b.is_ascii_uppercase()) => v.to_string(),
            Some(v) => return Err(err("CLIENTBASE_CURRENCY", format!("'{v}' is not an ISO 4217 code like RUB"))),
        };
        let webhook_allowed =
            crate::http::ssrf::AllowList::parse(get("CLIENTBASE_WEBHOOK_ALLOWED_HOSTS").unwrap_or(""))
                .map_err(|m| err("CLIENTBASE_WEBHOOK_ALLOWED_HOSTS", m))?;
        let webhook_timeout_secs = number("CLIENTBASE_WEBHOOK_TIMEOUT_SECS", 10, 1, 120)?;
        let webhook_retry_schedule = match get("CLIENTBASE_WEBHOOK_RETRY_SCHEDULE") {
            None => DEFAULT_RETRY_SCHEDULE.to_vec(),
            Some(v) => v
                .split(',')
                .map(|s| s.trim().parse::<u64>().ok().filter(|n| *n <= 7 * 86_400))
                .collect::<Option<Vec<u64>>>()
                .filter(|l| !l.is_empty() && l.len() <= 30)
                .ok_or_else(|| {
                    err(
                        "CLIENTBASE_WEBHOOK_RETRY_SCHEDULE",
                        format!("'{v}' must be up to 30 comma-separated delays in seconds"),
                    )
                })?,
        };
        let webhook_worker = match get("CLIENTBASE_WEBHOOK_WORKER") {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(v) => return Err(err("CLIENTBASE_WEBHOOK_WORKER", format!("'{v}' must be true or false"))),
        };
        let automation_worker = match get("CLIENTBASE_AUTOMATION_WORKER") {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(v) => return Err(err("CLIENTBASE_AUTOMATION_WORKER", format!("'{v}' must be true or false"))),
        };
        let automation_batch = number("CLIENTBASE_AUTOMATION_BATCH", 500, 1, 10_000)? as usize;
        let automation_batch_pause_ms = number("CLIENTBASE_AUTOMATION_BATCH_PAUSE_MS", 0, 0, 60_000)?;
        let automation_lease_secs = number("CLIENTBASE_AUTOMATION_LEASE_SECS", 60, 1, 3600)? as i64;
        let import_worker = match get("CLIENTBASE_IMPORT_WORKER") {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(v) => return Err(err("CLIENTBASE_IMPORT_WORKER", format!("'{v}' must be true or false"))),
        };
        let import_max_bytes =
            number("CLIENTBASE_IMPORT_MAX_BYTES", 50 * 1024 * 1024, 1024, 1024 * 1024 * 1024)? as usize;
        let import_batch = number("CLIENTBASE_IMPORT_BATCH", 1000, 1, 10_000)? as usize;
        let import_workers = number("CLIENTBASE_IMPORT_WORKERS", 2, 1, 16)? as usize;
        let import_lease_secs = number("CLIENTBASE_IMPORT_LEASE_SECS", 60, 1, 3600)? as i64;
        let idempotency_lease_secs = number("CLIENTBASE_IDEMPOTENCY_LEASE_SECS", 5, 1, 300)? as i64;
        let webhook_secret_grace_hours = number("CLIENTBASE_WEBHOOK_SECRET_GRACE_HOURS", 24, 0, 24 * 30)? as i64;
        let rate_limits = RateLimits {
            token: quota(
                "CLIENTBASE_RATE_LIMIT_TOKEN",
                get("CLIENTBASE_RATE_LIMIT_TOKEN"),
                Quota { requests: 30, window_secs: 60 },
            )?,
            bulk: quota(
                "CLIENTBASE_RATE_LIMIT_BULK",
                get("CLIENTBASE_RATE_LIMIT_BULK"),
                Quota { requests: 120, window_secs: 60 },
            )?,
            default: quota(
                "CLIENTBASE_RATE_LIMIT_DEFAULT",
                get("CLIENTBASE_RATE_LIMIT_DEFAULT"),
                Quota { requests: 1200, window_secs: 60 },
            )?,
        };
        let log_format = match get("CLIENTBASE_LOG_FORMAT") {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(v) => return Err(err("CLIENTBASE_LOG_FORMAT", format!("'{v}' must be text or json"))),
        };
        Ok(Config {
            bind,
            data_dir,
            database_url,
            jwt_secret,
            jwt_issuer: get("CLIENTBASE_JWT_ISSUER").unwrap_or("clientbase").to_string(),
            jwt_audience: get("CLIENTBASE_JWT_AUDIENCE").unwrap_or("clientbase-api").to_string(),
            token_ttl_secs,
            pool_size,
            workers,
            phone_region,
            admin_email,
            admin_password,
            cors_origins,
            max_body_bytes,
            body_timeout_secs,
            log_format,
            activity_edit_hours,
            currency,
            webhook_allowed,
            webhook_timeout_secs,
            webhook_retry_schedule,
            webhook_worker,
            webhook_secret_grace_hours,
            automation_worker,
            automation_batch,
            automation_batch_pause_ms,
            automation_lease_secs,
            import_worker,
            import_max_bytes,
            import_batch,
            import_workers,
            import_lease_secs,
            idempotency_lease_secs,
            rate_limits,
        })
    }

    pub fn backend(&self) -> crate::db::Backend {
        crate::db::Backend::of_url(&self.database_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_use_sqlite_in_the_data_dir() {
        let c = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://./data/clientbase.db");
        assert_eq!(c.phone_region, phonenumber::country::Id::RU);
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (var, value) in [
            ("CLIENTBASE_BIND", "localhost"),
            ("DATABASE_URL", "mysql://x"),
            ("CLIENTBASE_JWT_SECRET", "short"),
            ("CLIENTBASE_DB_POOL_SIZE", "0"),
            ("CLIENTBASE_TOKEN_TTL_SECS", "abc"),
            ("CLIENTBASE_PHONE_REGION", "XX1"),
            ("CLIENTBASE_ADMIN_EMAIL", "nobody"),
            ("CLIENTBASE_CORS_ORIGINS", "example.com"),
        ] {
            let e = Config::from_vars(&vars(&[(var, value)])).expect_err(var);
            assert_eq!(e.var, var);
            assert!(e.to_string().starts_with(var));
        }
    }

    #[test]
    fn database_password_is_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("sqlite://./data/x.db"), "sqlite://./data/x.db");
    }
}
