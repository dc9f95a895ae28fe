//! Spawns the real server on a free port over a database of its own: a fresh SQLite file, or a
//! fresh PostgreSQL database when `TEST_DATABASE_URL` is set. The database is dropped with the app.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use actix_web::web;
use clientbase::auth::jwt::Subject;
use clientbase::auth::scopes::{Role, ScopeSet};
use clientbase::config::Config;
use clientbase::db::DbConn;
use clientbase::startup::Application;
use clientbase::state::AppState;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use reqwest::{Method, Response};
use serde_json::Value;

use crate::contract::Request;

pub const ADMIN_EMAIL: &str = "admin@example.ru";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "password-12345";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: web::Data<AppState>,
    pub admin_id: i64,
    pub admin_token: String,
    handle: actix_web::dev::ServerHandle,
    // Dropped after the server is told to stop: the database goes with the app.
    _db: TestDb,
}

pub enum TestDb {
    Sqlite(PathBuf),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Owned by another app.
    Shared,
}

impl TestDb {
    /// A fresh database and the URL to reach it; dropped with the value.
    pub fn create() -> (TestDb, String) {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match std::env::var("TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres")) {
            Some(admin_url) => {
                let name = format!("clientbase_test_{unique}");
                let mut conn = diesel::PgConnection::establish(&admin_url).expect("connect to TEST_DATABASE_URL");
                conn.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
                let url = match admin_url.rfind('/') {
                    Some(i) if admin_url[..i].contains("://") && i > admin_url.find("://").unwrap() + 2 => {
                        format!("{}/{name}", &admin_url[..i])
                    }
                    _ => format!("{admin_url}/{name}"),
                };
                (TestDb::Postgres { admin_url, name }, url)
            }
            None => {
                let dir = std::env::temp_dir().join(format!("clientbase-test-{unique}"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite://{}", dir.join("test.db").display());
                (TestDb::Sqlite(dir), url)
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            TestDb::Postgres { admin_url, name } => {
                if let Ok(mut conn) = diesel::PgConnection::establish(admin_url) {
                    let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
            TestDb::Shared => {}
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once; the database goes when `db` drops after this.
        drop(self.handle.stop(false));
    }
}

pub fn test_config(database_url: &str, data_dir: PathBuf) -> Config {
    let vars: HashMap<String, String> = [
        ("CLIENTBASE_BIND", "127.0.0.1:0"),
        ("CLIENTBASE_JWT_SECRET", JWT_SECRET),
        ("CLIENTBASE_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CLIENTBASE_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CLIENTBASE_WORKERS", "2"),
        ("CLIENTBASE_DB_POOL_SIZE", "4"),
        ("CLIENTBASE_MAX_BODY_BYTES", "262144"),
        ("CLIENTBASE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1"),
        ("CLIENTBASE_WEBHOOK_RETRY_SCHEDULE", "1,1,1"),
        ("CLIENTBASE_WEBHOOK_TIMEOUT_SECS", "2"),
        // The suite sends far more than a person would; the limits have tests of their own.
        ("CLIENTBASE_RATE_LIMIT_TOKEN", "off"),
        ("CLIENTBASE_RATE_LIMIT_BULK", "off"),
        ("CLIENTBASE_RATE_LIMIT_DEFAULT", "off"),
        ("DATABASE_URL", database_url),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut config = Config::from_vars(&vars).expect("test config");
    config.data_dir = data_dir;
    config
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let (db, url) = TestDb::create();
        TestApp::spawn_on(db, &url, adjust).await
    }

    /// A second server over this app's database, as another replica would run.
    pub async fn replica(&self) -> TestApp {
        self.replica_with(|_| {}).await
    }

    /// [`TestApp::replica`] with its settings adjusted.
    pub async fn replica_with(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let url = self.state.config.database_url.clone();
        TestApp::spawn_on(TestDb::Shared, &url, adjust).await
    }

    async fn spawn_on(db: TestDb, url: &str, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let data_dir = std::env::temp_dir().join(format!("clientbase-data-{}", uuid::Uuid::new_v4().simple()));
        let mut config = test_config(url, data_dir);
        adjust(&mut config);
        let app = Application::build(config).await.expect("build app");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state();
        let handle = app.handle();
        tokio::spawn(app.run());
        let admin_id = {
            let mut conn = state.pool.get().unwrap();
            clientbase::users::repo::find_by_email(&mut conn, ADMIN_EMAIL).unwrap().unwrap().id
        };
        let admin_token = state.auth.jwt.issue(&Subject::User(admin_id), ScopeSet::all()).unwrap();
        TestApp { base, http: reqwest::Client::new(), state, admin_id, admin_token, handle, _db: db }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn conn(&self) -> diesel::r2d2::PooledConnection<clientbase::db::Manager> {
        self.state.pool.get().unwrap()
    }

    /// A request without credentials; its response is checked against the contract on `send`.
    pub fn anon(&self, method: Method, path: &str) -> Request {
        Request::new(self.http.request(method.clone(), self.url(path)), method, path)
    }

    /// A request with the given bearer token; its response is checked against the contract.
    pub fn req(&self, method: Method, path: &str, token: &str) -> Request {
        self.anon(method, path).bearer_auth(token)
    }

    /// A request as the administrator.
    pub fn admin(&self, method: Method, path: &str) -> Request {
        self.req(method, path, &self.admin_token)
    }

    /// A token for `subject` with `scopes`, signed like the server's own.
    pub fn token(&self, subject: Subject, scopes: ScopeSet) -> String {
        self.state.auth.jwt.issue(&subject, scopes).unwrap()
    }

    /// Creates a user with the role and returns its id and a token with the role's scopes.
    pub fn user(&self, role: Role, email: &str) -> (i64, String) {
        let mut conn = self.conn();
        let input = clientbase::users::model::NewUser {
            email: email.into(),
            name: format!("User {email}"),
            role,
            password: PASSWORD.into(),
            phone_extension: None,
        };
        let user = clientbase::users::repo::create(&mut conn, &input).unwrap();
        (user.id, self.token(Subject::User(user.id), role.scopes()))
    }

    /// Creates a client as the administrator and returns its JSON.
    pub async fn client(&self, body: Value) -> Value {
        let res = self.admin(Method::POST, "/api/v1/clients").json(&body).send().await.unwrap();
        assert_eq!(res.status(), 201, "creating client {body}");
        res.json().await.unwrap()
    }
}

/// Reads a JSON body, failing the test with the status and text if it is not JSON.
pub async fn json(res: Response) -> Value {
    let status = res.status();
    let text = res.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("status {status}, body not JSON: {text}"))
}

/// Asserts a problem+json response with `status` and returns the problem.
pub async fn problem(res: Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status, "unexpected status");
    let content_type = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let body = json(res).await;
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().unwrap().starts_with("/problems/"));
    body
}

/// The field names listed in a validation problem.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["field"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// Counts rows with a raw SQL `COUNT(*)` query.
pub fn count(conn: &mut DbConn, sql: &str) -> i64 {
    use diesel::sql_types::BigInt;
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
}

/// The real binary serving over a database, as a deployment runs it; killed (SIGKILL) when
/// dropped or by [`Server::kill`].
pub struct Server {
    child: Child,
    pub base: String,
    log: PathBuf,
}

impl Server {
    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: the process stops at once, in the middle of whatever it does.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary over `database_url` with the test settings and `extra` variables, and
/// waits until it is ready.
pub async fn start(database_url: &str, data_dir: &std::path::Path, extra: &[(&str, &str)]) -> Server {
    let mut server = start_detached(database_url, data_dir, extra);
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{}/health/ready", server.base)).send().await.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill();
    panic!("the server did not start");
}

/// Starts the binary without waiting for it; its log goes to `server.log` in `data_dir`.
pub fn start_detached(database_url: &str, data_dir: &std::path::Path, extra: &[(&str, &str)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::create_dir_all(data_dir).unwrap();
    let log = data_dir.join("server.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clientbase"));
    for (key, _) in std::env::vars() {
        if key.starts_with("CLIENTBASE_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    let child = cmd
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("CLIENTBASE_BIND", format!("127.0.0.1:{port}"))
        .env("CLIENTBASE_DATA_DIR", data_dir)
        .env("CLIENTBASE_JWT_SECRET", JWT_SECRET)
        .env("CLIENTBASE_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("CLIENTBASE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CLIENTBASE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
        .env("CLIENTBASE_WEBHOOK_TIMEOUT_SECS", "2")
        .env("CLIENTBASE_WEBHOOK_RETRY_SCHEDULE", "1,1,1")
        .env("RUST_LOG", "warn")
        .env("CLIENTBASE_RATE_LIMIT_TOKEN", "off")
        .env("CLIENTBASE_RATE_LIMIT_BULK", "off")
        .env("CLIENTBASE_RATE_LIMIT_DEFAULT", "off")
        .envs(extra.iter().copied())
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Server { child, base: format!("http://127.0.0.1:{port}"), log }
}

/// The administrator's access token from a running binary.
pub async fn login(http: &reqwest::Client, base: &str) -> String {
    let res = http
        .post(format!("{base}/api/v1/auth/token"))
        .form(&[("grant_type", "password"), ("username", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    json(res).await["access_token"].as_str().unwrap().to_string()
}
