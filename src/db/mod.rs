//! Storage: one connection type over PostgreSQL and SQLite, its pool, the embedded migrations and
//! the few helpers where the two backends need different SQL.

pub mod backup;
pub mod dialect;
pub mod health;
pub mod schema;
pub mod sql;

pub use dialect::allocate_ids;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::ApiError;

pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// A connection to whichever backend `DATABASE_URL` names. Queries are written once against this
/// type; `with_backend!` runs generic code on the inner connection where diesel needs the concrete
/// backend (upserts, multi-row inserts).
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

diesel::define_sql_function! {
    /// The characters of a string in reverse order: phone numbers are searched by their
    /// trailing digits as a prefix of the reversed number, which a b-tree can serve.
    fn reverse(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The backend type diesel generates for [`DbConn`], for boxed queries.
pub type Db = <DbConn as Connection>::Backend;

/// The connection pool, with what it learnt of the database's health.
#[derive(Clone)]
pub struct Pool {
    inner: r2d2::Pool<Manager>,
    // A copy of the pool's own manager (r2d2 does not lend it): the probe connects with it.
    manager: Manager,
}

impl std::ops::Deref for Pool {
    type Target = r2d2::Pool<Manager>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl Pool {
    pub fn health(&self) -> &health::Health {
        &self.manager.health
    }

    pub fn manager_ref(&self) -> &Manager {
        &self.manager
    }

    pub fn backend(&self) -> Backend {
        self.manager.backend
    }
}

pub type PooledConn = r2d2::PooledConnection<Manager>;

/// How a pooled connection's last work went, kept with it in the pool (r2d2's extensions).
struct LastUse {
    ended: Instant,
    failed: bool,
}

/// A connection back in the pool this recently, after work that succeeded, is lent again
/// without a `SELECT 1` first (HikariCP's `aliveBypassWindowMs`): under load every checkout
/// finds one, and the check would be one of a point read's two round trips. One idle longer,
/// or whose last work failed, is checked, and replaced if the database does not answer on it.
const TRUSTED_FOR: Duration = Duration::from_millis(500);

/// Runs the same generic block on the concrete connection inside a [`DbConn`].
#[macro_export]
macro_rules! with_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Pg($c) => $body,
            $crate::db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// Inserts many rows of one table: `COPY … FROM STDIN BINARY` on PostgreSQL, which neither
/// parses nor plans a statement as long as the batch, and a multi-row `INSERT` on SQLite. The
/// rows' `Insertable` must name every column it writes (`treat_none_as_default_value = false`).
#[macro_export]
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::db::DbConn::Pg(c) => {
                diesel::ExecuteCopyFromDsl::execute(diesel::copy_from($table).from_insertable($rows), c)
            }
            $crate::db::DbConn::Sqlite(c) => diesel::RunQueryDsl::execute(diesel::insert_into($table).values($rows), c),
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Strips the `sqlite://` scheme diesel's SQLite driver does not understand.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url)
}

/// The r2d2 manager: picks the variant from the URL scheme (r2d2's own `establish` on the enum
/// tries each backend in turn and hides the real error) and sets SQLite up per connection.
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    backend: Backend,
    health: Arc<health::Health>,
}

impl Manager {
    pub fn new(url: &str) -> Manager {
        let backend = Backend::of_url(url);
        let url = match backend {
            Backend::Postgres => with_network_timeouts(url),
            Backend::Sqlite => url.to_string(),
        };
        Manager { url, backend, health: Arc::default() }
    }

    fn observe<T, E>(&self, result: Result<T, E>) -> Result<T, E> {
        self.health.set_down(result.is_err());
        result
    }
}

/// libpq's defaults wait on a dead peer for minutes (connect) or forever (a query whose
/// packets stop arriving). These bound both; any of them set in `DATABASE_URL` wins.
const PG_NETWORK_TIMEOUTS: [(&str, &str); 6] = [
    // libpq's floor: values under 2 s are taken as 2 s.
    ("connect_timeout", "2"),
    // Sent data unacknowledged this long (ms) means the peer is gone.
    ("tcp_user_timeout", "1000"),
    // An idle or waiting connection is probed after 5 s and dropped after 3 unanswered probes.
    ("keepalives", "1"),
    ("keepalives_idle", "5"),
    ("keepalives_interval", "1"),
    ("keepalives_count", "3"),
];

fn with_network_timeouts(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else { return url.to_string() };
    let present: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
    {
        let mut query = parsed.query_pairs_mut();
        for (key, value) in PG_NETWORK_TIMEOUTS {
            if !present.iter().any(|p| p == key) {
                query.append_pair(key, value);
            }
        }
    }
    parsed.to_string()
}

pub fn establish(url: &str) -> Result<DbConn, diesel::ConnectionError> {
    match Backend::of_url(url) {
        Backend::Postgres => Ok(DbConn::Pg(PgConnection::establish(url)?)),
        Backend::Sqlite => {
            let mut conn = SqliteConnection::establish(sqlite_path(url))?;
            // WAL lets readers run beside the single writer; busy_timeout makes writers queue
            // instead of failing; foreign keys are off by default in SQLite.
            conn.batch_execute(
                "PRAGMA busy_timeout = 15000; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            )
            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            dialect::register_sqlite_functions(&mut conn)
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            Ok(DbConn::Sqlite(conn))
        }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        self.observe(establish(&self.url).map_err(r2d2::Error::ConnectionError))
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        self.observe(conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError))
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        // A connection left inside a transaction (a panic mid-request) must not be reused.
        match <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn).transaction_depth() {
            Ok(Some(_)) | Err(_) => true,
            Ok(None) => false,
        }
    }
}

impl Manager {
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// How long a request waits for a pooled connection while the database answers: a busy pool
/// queues requests this long before 503.
pub const BUSY_WAIT: Duration = Duration::from_secs(10);
/// How long a request waits for a connection while the database does not answer.
pub const OUTAGE_WAIT: Duration = Duration::from_millis(500);

/// The pool, without connecting: the caller decides how long to wait for the database.
/// r2d2 retries a failed connection after a back-off capped at half its `connection_timeout`,
/// so 1 s here means a returning database is in use again within about half a second.
pub fn build_pool(url: &str, size: u32) -> Pool {
    let manager = Manager::new(url);
    let inner = r2d2::Pool::builder()
        .max_size(size)
        // [`connection`] checks the connections that need it (see [`TRUSTED_FOR`]).
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(1))
        .build_unchecked(manager.clone());
    Pool { inner, manager }
}

pub fn run_migrations(conn: &mut DbConn) -> Result<(), String> {
    let applied = match conn {
        DbConn::Pg(c) => c.run_pending_migrations(PG_MIGRATIONS).map(|v| v.len()),
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    }
    .map_err(|e| format!("migration failed: {e}"))?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    Ok(())
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Pg(_) => Backend::Postgres,
            DbConn::Sqlite(_) => Backend::Sqlite,
        }
    }
}

fn begin_write(conn: &mut DbConn) -> diesel::QueryResult<()> {
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
        DbConn::Pg(_) => <DbConn as Connection>::TransactionManager::begin_transaction(conn),
    }
}

/// Runs `f` in a transaction that is always rolled back: a dry run of a write.
pub fn rolled_back_tx<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    begin_write(conn)?;
    let result = f(conn);
    <DbConn as Connection>::TransactionManager::rollback_transaction(conn)?;
    result
}

/// Runs `f` in a write transaction. On SQLite the transaction starts with `BEGIN IMMEDIATE` so
/// that concurrent writers queue on the busy timeout instead of failing on a lock upgrade.
pub fn write_tx<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    begin_write(conn)?;
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            // The caller's error is the one worth reporting; a failed rollback leaves the
            // connection marked broken and the pool drops it.
            let _ = <DbConn as Connection>::TransactionManager::rollback_transaction(conn);
            Err(e)
        }
    }
}

/// A pooled connection for blocking work (workers, streams), waiting up to [`BUSY_WAIT`]. One
/// that may have lost its database is asked first; if it does not answer it is dropped (its
/// transaction state set broken, which the pool's `has_broken` sees) and another is taken.
pub fn connection(pool: &Pool) -> Result<PooledConn, ApiError> {
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut conn = pool.get_timeout(left).map_err(|_| ApiError::Unavailable)?;
        let trusted = match r2d2::PooledConnection::extensions(&conn).get::<LastUse>() {
            Some(last) => !last.failed && last.ended.elapsed() < TRUSTED_FOR,
            // A connection the pool opened in the background may have idled since.
            None => false,
        };
        if trusted || pool.backend() == Backend::Sqlite || pool.manager.is_valid(&mut conn).is_ok() {
            return Ok(conn);
        }
        <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(&mut conn).set_in_error();
        if Instant::now() >= deadline {
            return Err(ApiError::Unavailable);
        }
    }
}

/// Notes how the work on `conn` went, for the next [`connection`] to take it.
fn record_use<T>(conn: &mut PooledConn, result: &Result<T, ApiError>) {
    let failed = matches!(result, Err(ApiError::Unavailable | ApiError::Internal(_)));
    r2d2::PooledConnection::extensions_mut(conn).insert(LastUse { ended: Instant::now(), failed });
}

/// Runs blocking diesel work on actix's thread pool with a pooled connection. While the pool is
/// busy the request waits up to [`BUSY_WAIT`] for a connection; while the database does not
/// answer it gets 503 after [`OUTAGE_WAIT`], and the work, left unstarted, never runs; work
/// already started when the database stops answering gets 503 too.
pub async fn run<T, F>(pool: &Pool, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    const WAITING: u8 = 0;
    const STARTED: u8 = 1;
    const GIVEN_UP: u8 = 2;
    let state = Arc::new(AtomicU8::new(WAITING));
    let (started_tx, mut started) = tokio::sync::oneshot::channel::<()>();
    let task = {
        let (pool, state) = (pool.clone(), state.clone());
        actix_web::web::block(move || {
            let mut conn = connection(&pool)?;
            if state.compare_exchange(WAITING, STARTED, Ordering::AcqRel, Ordering::Acquire).is_err() {
                return Err(ApiError::Unavailable);
            }
            drop(started_tx);
            let result = f(&mut conn);
            record_use(&mut conn, &result);
            result
        })
    };
    let asked = Instant::now();
    // The sender drops once the work starts or the task ends; until then, look at the
    // database's health every 100 ms.
    while tokio::time::timeout(Duration::from_millis(100), &mut started).await.is_err() {
        let outage = asked.elapsed() >= OUTAGE_WAIT && pool.health().is_down();
        if outage && state.compare_exchange(WAITING, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return Err(ApiError::Unavailable);
        }
    }
    // A partition may also catch the work mid-statement (its connection lent unchecked, see
    // [`TRUSTED_FOR`]), where no timeout of libpq ends it: once the probe finds the database
    // silent, the request is answered and the work ends on its own thread when packets flow.
    let mut task = std::pin::pin!(task);
    loop {
        match tokio::time::timeout(Duration::from_millis(100), task.as_mut()).await {
            Ok(done) => return done.map_err(|_| ApiError::internal("database task failed"))?,
            Err(_) if pool.health().is_down() => return Err(ApiError::Unavailable),
            Err(_) => {}
        }
    }
}

/// Woken after every committed write transaction. Workers that wait for new rows (the webhook
/// outbox) listen here, so storage needs to know none of them.
pub fn committed() -> &'static tokio::sync::Notify {
    static COMMITTED: std::sync::OnceLock<tokio::sync::Notify> = std::sync::OnceLock::new();
    COMMITTED.get_or_init(tokio::sync::Notify::new)
}

/// [`run`] with the work wrapped in [`write_tx`]; wakes whoever waits on [`committed`].
pub async fn run_tx<T, F>(pool: &Pool, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let result = run(pool, move |conn| write_tx(conn, f)).await;
    if result.is_ok() {
        committed().notify_one();
    }
    result
}

/// The current UTC time at the precision both backends store (microseconds), so that a value
/// written and read back compares equal.
pub fn now() -> chrono::NaiveDateTime {
    let now = chrono::Utc::now().naive_utc();
    chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1)).unwrap_or(now)
}
