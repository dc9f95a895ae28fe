//! `Application::build(config)`: everything `main` and the tests share to bring the server up —
//! data directory, secret, pool, migrations, first administrator, middleware — assembled from
//! the state (`state`) and the route table (`routes`).

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use actix_cors::Cors;
use actix_http::HttpService;
use actix_service::{fn_service, map_config, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{from_fn, Condition};
use actix_web::web::{self, PayloadConfig};
use actix_web::{App, HttpResponse};
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

use crate::auth::jwt::JwtKeys;
use crate::auth::password;
use crate::auth::scopes::Role;
use crate::auth::throttle::LoginThrottle;
use crate::auth::{Authenticator, PrincipalCache};
use crate::config::Config;
use crate::db;
use crate::error::ApiError;
use crate::http::allow::MethodTable;
use crate::http::deadline::BodyTimeout;
use crate::http::expect::BodyLimits;
use crate::http::extract::BodyLimit;
use crate::http::rate_limit::RateLimiter;
use crate::metrics::Metrics;
use crate::routes::routes;
use crate::state::AppState;
use crate::{automations, idempotency, imports, openapi, routes, users, webhooks};

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Prepares storage and binds the listener; the server runs when [`Application::run`] is awaited.
    pub async fn build(config: Config) -> Result<Application, String> {
        let state = web::Data::new(prepare(config)?);
        let listener = TcpListener::bind(state.config.bind)
            .map_err(|e| format!("CLIENTBASE_BIND: cannot listen on {}: {e}", state.config.bind))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let server = server(state.clone(), listener)?;
        Ok(Application { port, server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or Ctrl-C, letting in-flight requests and deliveries finish.
    pub async fn run(self) -> std::io::Result<()> {
        let housekeeping = tokio::spawn(housekeeping(self.state.clone()));
        let probe = tokio::spawn(db::health::probe(self.state.pool.clone()));
        let counts = tokio::spawn(share_rate_counts(self.state.clone()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = self
            .state
            .config
            .webhook_worker
            .then(|| tokio::spawn(webhooks::worker::run(self.state.clone(), stopped.clone())));
        let automations = self
            .state
            .config
            .automation_worker
            .then(|| tokio::spawn(automations::worker::run(self.state.clone(), stopped.clone())));
        let imports =
            self.state.config.import_worker.then(|| tokio::spawn(imports::worker::run(self.state.clone(), stopped)));
        let result = self.server.await;
        housekeeping.abort();
        probe.abort();
        counts.abort();
        let _ = stop.send(true);
        let grace = Duration::from_secs(self.state.config.webhook_timeout_secs + 2);
        for worker in [worker, automations, imports].into_iter().flatten() {
            let _ = tokio::time::timeout(grace, worker).await;
        }
        result
    }
}

/// Opens the database (migrating it), resolves the signing secret and creates the first
/// administrator if there are no users yet.
pub fn prepare(config: Config) -> Result<AppState, String> {
    let mut sqlite_lock = None;
    if config.backend() == db::Backend::Sqlite {
        let path = Path::new(db::sqlite_path(&config.database_url));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("DATABASE_URL: cannot create {}: {e}", dir.display()))?;
        }
        sqlite_lock = Some(std::sync::Arc::new(db::backup::ServerLock::shared(path)?));
    }
    let pool = db::build_pool(&config.database_url, config.pool_size);
    {
        let mut conn = first_connection(&pool, &config)?;
        db::run_migrations(&mut conn)?;
        let refreshed = crate::clients::repo::refresh_search_keys(&mut conn)
            .map_err(|e| format!("recomputing the search keys of clients: {e}"))?;
        if refreshed > 0 {
            tracing::info!(clients = refreshed, "recomputed the search keys of clients written by an earlier release");
        }
        bootstrap_admin(&mut conn, &config)?;
    }
    let secret = jwt_secret(&config)?;
    let jwt = JwtKeys::new(secret.as_bytes(), &config.jwt_issuer, &config.jwt_audience, config.token_ttl_secs);
    Ok(AppState {
        auth: web::Data::new(Authenticator {
            pool: pool.clone(),
            jwt,
            principals: PrincipalCache::new(crate::auth::principals::REVOCATION_DELAY),
        }),
        pool,
        throttle: LoginThrottle::new(Duration::from_secs(15 * 60), 5, 30),
        metrics: web::Data::new(Metrics::default()),
        openapi_json: openapi::to_json(&routes::document()),
        leases: std::sync::Arc::new(idempotency::Leases::new(config.idempotency_lease_secs)),
        sqlite_lock,
        rate_limiter: web::Data::new(RateLimiter::new(config.rate_limits)),
        memo: Default::default(),
        config,
    })
}

/// A connection to the database, waiting for PostgreSQL as long as it takes (it may start after
/// the server, or be restarting) and logging each attempt. A SQLite file that cannot be opened
/// is a configuration error and fails at once.
fn first_connection(pool: &db::Pool, config: &Config) -> Result<db::PooledConn, String> {
    let target = crate::config::redact_url(&config.database_url);
    let mut pause = Duration::from_millis(250);
    let mut attempt = 0u64;
    loop {
        attempt += 1;
        match pool.get_timeout(Duration::from_secs(2)) {
            Ok(conn) => return Ok(conn),
            Err(e) if config.backend() == db::Backend::Postgres => {
                tracing::warn!(attempt, database = %target, error = %e, "the database does not answer; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(format!("DATABASE_URL: cannot open {target}: {e}")),
        }
    }
}

/// The configured secret, or the one kept in the data directory (created on first start,
/// readable by the owner only).
fn jwt_secret(config: &Config) -> Result<String, String> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    let path = config.data_dir.join("jwt.secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| format!("CLIENTBASE_DATA_DIR: cannot create {}: {e}", config.data_dir.display()))?;
    let secret = password::random_token(64);
    write_private(&path, &secret).map_err(|e| format!("CLIENTBASE_DATA_DIR: cannot write {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a JWT signing secret");
    Ok(secret)
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(content.as_bytes())
}

fn bootstrap_admin(conn: &mut db::DbConn, config: &Config) -> Result<(), String> {
    if users::repo::count(conn).map_err(|e| e.to_string())? > 0 {
        return Ok(());
    }
    let email = config.admin_email.clone().unwrap_or_else(|| "admin@clientbase.local".into());
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.clone(), false),
        None => (password::random_token(20), true),
    };
    let input = users::model::NewUser {
        email: email.clone(),
        name: "Administrator".into(),
        role: Role::Admin,
        password: password.clone(),
        phone_extension: None,
    };
    match users::repo::create(conn, &input) {
        Ok(_) => {}
        // Another replica starting at the same moment created it.
        Err(ApiError::Conflict(_)) => return Ok(()),
        Err(e) => return Err(format!("cannot create the first administrator: {e}")),
    }
    if generated {
        // Printed once, to the console only: it is never written to the logs.
        println!("Created the administrator {email} with the password {password}");
        println!("Sign in with it and change it; set CLIENTBASE_ADMIN_PASSWORD to choose it yourself.");
    } else {
        tracing::info!(%email, "created the first administrator");
    }
    Ok(())
}

fn server(state: web::Data<AppState>, listener: TcpListener) -> Result<Server, String> {
    let workers = state.config.workers;
    let methods = web::Data::new(MethodTable::from_openapi_json(&state.openapi_json));
    let limits = BodyLimits { json: state.config.max_body_bytes, uploads: state.config.import_max_bytes };
    let app = move || {
        let limit = state.config.max_body_bytes;
        let cors_enabled = !state.config.cors_origins.is_empty();
        let cors = state.config.cors_origins.iter().fold(Cors::default(), |c, origin| c.allowed_origin(origin));
        let cors = cors
            .allowed_methods(["GET", "POST", "PATCH", "DELETE", "OPTIONS"])
            .allowed_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                header::HeaderName::from_static("ratelimit"),
                header::HeaderName::from_static("ratelimit-policy"),
                header::HeaderName::from_static("x-request-id"),
            ])
            .max_age(3600);
        let (app, _) = App::new()
            .into_utoipa_app()
            .app_data(state.clone())
            .app_data(state.auth.clone())
            .app_data(state.metrics.clone())
            .app_data(state.rate_limiter.clone())
            .app_data(methods.clone())
            .app_data(BodyLimit(limit))
            .app_data(BodyTimeout(Duration::from_secs(state.config.body_timeout_secs)))
            .app_data(PayloadConfig::new(limit))
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
            .configure(routes)
            .split_for_parts();
        app.service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/openapi.json")),
        )
        .route(
            &format!("{}/{{status}}/{{cause}}", crate::http::protocol::PATH),
            web::get().to(crate::http::protocol::answer),
        )
        .route(
            "/docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect().insert_header((header::LOCATION, "/docs/")).finish()
            }),
        )
        .default_service(web::to(|req: actix_web::HttpRequest, methods: web::Data<MethodTable>| async move {
            methods.answer(&req)
        }))
        .wrap(from_fn(crate::http::allow::head_as_get))
        .wrap(from_fn(crate::http::deadline::middleware))
        .wrap(from_fn(crate::http::rate_limit::middleware))
        .wrap(Condition::new(cors_enabled, cors))
        .wrap(from_fn(crate::metrics::middleware))
        .wrap(from_fn(request_id_header))
        .wrap(TracingLogger::default())
    };
    // Built from the HTTP layer up, as `HttpServer` would, for what it does not expose: the
    // answer to `Expect: 100-continue`, and the answer to heads that are not HTTP (`protocol`).
    let server = actix_server::Server::build()
        .workers(workers)
        .shutdown_timeout(30)
        .listen("clientbase", listener, move || {
            let http = HttpService::build()
                .client_request_timeout(Duration::from_secs(5))
                .expect(fn_service(move |req| crate::http::expect::check(req, limits)))
                .finish(map_config(app(), |_| AppConfig::default()));
            fn_service(|io: actix_web::rt::net::TcpStream| async move {
                let peer = io.peer_addr().ok();
                let _ = io.set_nodelay(true);
                Ok::<_, actix_http::error::DispatchError>((
                    crate::http::protocol::Checked::new(io),
                    actix_http::Protocol::Http1,
                    peer,
                ))
            })
            .and_then(http)
        })
        .map_err(|e| e.to_string())?
        .run();
    Ok(server)
}

/// Returns the request id the tracing span carries, so a caller can quote it.
async fn request_id_header(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    use actix_web::HttpMessage;
    let id = req.extensions().get::<tracing_actix_web::RequestId>().map(|id| id.to_string());
    let mut res = next.call(req).await?;
    if let Some(value) = id.and_then(|id| header::HeaderValue::from_str(&id).ok()) {
        res.headers_mut().insert(header::HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// Periodic work: the leases of running idempotent requests renewed, expired keys deleted.
/// Adds this process's rate-limit counts to the shared ones, and clears windows a day old.
async fn share_rate_counts(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(crate::http::rate_limit::FLUSH_EVERY);
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        let limiter = state.rate_limiter.clone();
        let now = chrono::Utc::now().timestamp();
        if let Err(e) = db::run(&state.pool, move |conn| limiter.flush(conn, now)).await {
            tracing::warn!(error = %e, "sharing rate-limit counts failed");
        }
        if last_purge.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
            last_purge = Some(std::time::Instant::now());
            let before = now - 86_400 - 60;
            if let Err(e) = db::run(&state.pool, move |conn| crate::http::rate_limit::purge(conn, before)).await {
                tracing::warn!(error = %e, "rate-limit count clean-up failed");
            }
        }
    }
}

async fn housekeeping(state: web::Data<AppState>) {
    let mut tick = tokio::time::interval(state.leases.renewal_interval());
    let mut last_purge: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        let leases = state.leases.clone();
        if let Err(e) = db::run(&state.pool, move |conn| Ok(leases.renew(conn)?)).await {
            tracing::warn!(error = %e, "renewing idempotency leases failed");
        }
        if let Err(e) = db::run(&state.pool, |conn| Ok(crate::memo::fold(conn)?)).await {
            tracing::warn!(error = %e, "folding the write marks failed");
        }
        if last_purge.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
            last_purge = Some(std::time::Instant::now());
            if let Err(e) = db::run(&state.pool, |conn| Ok(idempotency::purge_expired(conn)?)).await {
                tracing::warn!(error = %e, "idempotency key clean-up failed");
            }
        }
    }
}
