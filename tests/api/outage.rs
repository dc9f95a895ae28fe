//! Database outages staged with a TCP proxy in front of PostgreSQL (the shared server is never
//! stopped): connections cut, a partition where bytes stop but nothing closes, and the return.
//! Requests fail fast with 503, readiness answers within its own second, service resumes at
//! once, and a server started while the database is away waits for it.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Pass,
    /// Every connection is closed and new ones are refused: the database is down.
    Cut,
    /// Bytes stop both ways and nothing is closed: a network partition.
    Pause,
}

/// A TCP proxy whose connections the test cuts, pauses and restores.
struct Proxy {
    addr: SocketAddr,
    shared: Arc<(Mutex<ProxyState>, Condvar)>,
}

struct ProxyState {
    mode: Mode,
    sockets: Vec<TcpStream>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new((Mutex::new(ProxyState { mode: Mode::Pass, sockets: Vec::new() }), Condvar::new()));
        let s = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if s.0.lock().unwrap().mode == Mode::Cut {
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else { continue };
                {
                    let mut state = s.0.lock().unwrap();
                    state.sockets.push(client.try_clone().unwrap());
                    state.sockets.push(server.try_clone().unwrap());
                }
                for (from, to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                    let s = s.clone();
                    std::thread::spawn(move || pump(from, to, &s));
                }
            }
        });
        Proxy { addr, shared }
    }

    fn set(&self, mode: Mode) {
        let (lock, wake) = &*self.shared;
        let mut state = lock.lock().unwrap();
        state.mode = mode;
        if mode == Mode::Cut {
            for socket in state.sockets.drain(..) {
                let _ = socket.shutdown(Shutdown::Both);
            }
        }
        wake.notify_all();
    }

    /// `url` with its host and port replaced by the proxy's.
    fn url(&self, url: &str) -> String {
        reroute(url, &format!("postgres://127.0.0.1:{}/", self.addr.port()))
    }
}

impl Drop for Proxy {
    /// Whatever waits on a paused or cut connection is let go when a test ends, passed or not.
    fn drop(&mut self) {
        self.set(Mode::Cut);
    }
}

/// Copies bytes one way; while paused, what was read waits here, as it would in the network.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &(Mutex<ProxyState>, Condvar)) {
    let mut buf = [0u8; 16384];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let (lock, wake) = shared;
            let mut state = lock.lock().unwrap();
            while state.mode == Mode::Pause {
                state = wake.wait(state).unwrap();
            }
            if state.mode == Mode::Cut {
                break;
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// `url` with the host and port of `via`.
fn reroute(url: &str, via: &str) -> String {
    let (mut parsed, via) = (url::Url::parse(url).unwrap(), url::Url::parse(via).unwrap());
    parsed.set_host(via.host_str()).unwrap();
    parsed.set_port(via.port()).unwrap();
    parsed.to_string()
}

fn upstream(url: &str) -> SocketAddr {
    let parsed = url::Url::parse(url).unwrap();
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let host = if host == "localhost" { "127.0.0.1" } else { host };
    format!("{host}:{}", parsed.port().unwrap_or(5432)).parse().unwrap()
}

/// An app whose every database connection goes through a proxy; `None` on SQLite.
async fn proxied_app() -> Option<(TestApp, Proxy)> {
    let url = std::env::var("TEST_DATABASE_URL").ok().filter(|u| u.starts_with("postgres"))?;
    let proxy = Proxy::start(upstream(&url));
    let through = proxy.url("postgres://127.0.0.1/");
    let app = TestApp::spawn_with(move |c| c.database_url = reroute(&c.database_url, &through)).await;
    Some((app, proxy))
}

/// Asserts a 503 problem with `Retry-After` and returns how long it took.
async fn unavailable(app: &TestApp, path: &str) -> Duration {
    let started = Instant::now();
    let res = app.admin(Method::GET, path).send().await.unwrap();
    let took = started.elapsed();
    assert!(res.headers().contains_key("retry-after"), "{path}: {} without Retry-After", res.status());
    problem(res, 503).await;
    took
}

async fn ready_status(app: &TestApp) -> (u16, Duration) {
    let started = Instant::now();
    let res = app.anon(Method::GET, "/health/ready").send().await.unwrap();
    (res.status().as_u16(), started.elapsed())
}

/// While the database is away: each of `paths` gets 503 within `within_ms`, readiness within 1 s;
/// then the proxy passes again and service resumes within 1 s.
async fn down_then_back(app: &TestApp, proxy: &Proxy, paths: &[&str], within_ms: u64) {
    for path in paths {
        let took = unavailable(app, path).await;
        assert!(took <= Duration::from_millis(within_ms), "{path} took {took:?} to answer 503");
    }
    let (status, took) = ready_status(app).await;
    assert_eq!(status, 503);
    assert!(took <= Duration::from_secs(1), "readiness took {took:?}");
    proxy.set(Mode::Pass);
    let took = resumed(app).await;
    assert!(took <= Duration::from_secs(1), "service resumed {took:?} after the database returned");
}

/// Polls until a list request succeeds and returns how long that took.
async fn resumed(app: &TestApp) -> Duration {
    let started = Instant::now();
    loop {
        let res = app.http.get(app.url("/api/v1/clients")).bearer_auth(&app.admin_token).send().await.unwrap();
        if res.status() == 200 {
            return started.elapsed();
        }
        assert_eq!(res.status(), 503, "while the database returns");
        assert!(started.elapsed() < Duration::from_secs(10), "service did not resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn while_the_database_is_down_requests_fail_fast_and_service_resumes_at_once() {
    let Some((app, proxy)) = proxied_app().await else { return };
    app.client(json!({"name": "Before the outage"})).await;

    // A write waiting on a lock when the connection dies gets 503: nothing was committed.
    let direct = format!("postgres://{}/", upstream(&std::env::var("TEST_DATABASE_URL").unwrap()));
    let mut holder = diesel::PgConnection::establish(&reroute(&app.state.config.database_url, &direct)).unwrap();
    holder.batch_execute("BEGIN; LOCK TABLE clients IN EXCLUSIVE MODE").unwrap();
    let pending = {
        let req = app.admin(Method::POST, "/api/v1/clients").json(&json!({"name": "Mid-query"}));
        tokio::spawn(async move { req.send().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.set(Mode::Cut);
    let res = pending.await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    problem(res, 503).await;
    holder.batch_execute("ROLLBACK").unwrap();

    down_then_back(&app, &proxy, &["/api/v1/clients", "/api/v1/channels", "/api/v1/clients?q=before"], 2000).await;
    let (status, _) = ready_status(&app).await;
    assert_eq!(status, 200);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM clients WHERE name = 'Mid-query'"), 0);
}

#[tokio::test]
async fn a_partition_is_noticed_by_timeouts_and_healing_it_resumes_service() {
    let Some((app, proxy)) = proxied_app().await else { return };
    app.client(json!({"name": "Before the partition"})).await;
    proxy.set(Mode::Pause);
    // The first request may be the one that finds the partition; every one answers in time.
    down_then_back(&app, &proxy, &["/api/v1/clients", "/api/v1/clients", "/api/v1/channels"], 2500).await;
}

#[tokio::test]
async fn connections_dropped_while_idle_are_replaced_unseen() {
    let Some((app, proxy)) = proxied_app().await else { return };
    // Several requests at once leave several connections in the pool.
    let burst = |app: &TestApp| {
        let requests: Vec<_> = (0..6).map(|_| app.admin(Method::GET, "/api/v1/clients").send()).collect();
        futures_util::future::join_all(requests)
    };
    for res in burst(&app).await {
        assert_eq!(res.unwrap().status(), 200);
    }
    // The database drops every connection (a restart, a proxy's idle cut) and takes new ones.
    proxy.set(Mode::Cut);
    proxy.set(Mode::Pass);
    // Idle past the window in which a connection is lent unchecked, each is asked before use.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for res in burst(&app).await {
        let res = res.unwrap();
        assert_eq!(res.status(), 200, "a dead pooled connection reached a request");
    }
}

#[tokio::test]
async fn a_server_started_before_its_database_waits_for_it() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else { return };
    if !url.starts_with("postgres") {
        return;
    }
    let (db, db_url) = TestDb::create();
    let proxy = Proxy::start(upstream(&url));
    proxy.set(Mode::Cut);
    let dir = std::env::temp_dir().join(format!("clientbase-wait-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut server = start_detached(&proxy.url(&db_url), &dir, &[]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(server.running(), "the server exited while the database was away");
    proxy.set(Mode::Pass);
    let http = reqwest::Client::new();
    let started = Instant::now();
    let base = server.base.clone();
    loop {
        if let Ok(res) = http.get(format!("{base}/health/ready")).send().await {
            if res.status() == 200 {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the server never came up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = server.log();
    assert!(log.contains("the database does not answer; retrying"), "no attempt was logged: {log}");
    drop(server);
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}
