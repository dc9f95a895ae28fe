//! `Idempotency-Key` under faults: a key whose process died mid-request is free again within its
//! lease, while a live process keeps its running request's key however long it takes.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::Connection;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn batch(prefix: &str) -> Value {
    let items: Vec<Value> = (0..1000)
        .map(|i| json!({"external_id": format!("{prefix}-{i}"), "name": format!("Client {prefix} {i}")}))
        .collect();
    json!({"source": "1c", "items": items})
}

/// On PostgreSQL, a connection holding `clients` so that any write to it waits: a request
/// claims its key, then stops at its first insert for as long as the test likes.
fn hold_clients(url: &str) -> Option<diesel::PgConnection> {
    url.starts_with("postgres").then(|| {
        let mut conn = diesel::PgConnection::establish(url).unwrap();
        conn.batch_execute("BEGIN; LOCK TABLE clients IN EXCLUSIVE MODE").unwrap();
        conn
    })
}

fn key_state(conn: &mut clientbase::db::DbConn, key: &str) -> (i64, i64) {
    let rows = count(conn, &format!("SELECT COUNT(*) AS n FROM idempotency_keys WHERE key = '{key}'"));
    let done = count(
        conn,
        &format!("SELECT COUNT(*) AS n FROM idempotency_keys WHERE key = '{key}' AND status_code IS NOT NULL"),
    );
    (rows, done)
}

#[tokio::test]
async fn a_key_whose_process_was_killed_mid_request_is_free_again_within_its_lease() {
    let (_db, url) = TestDb::create();
    let dir = std::env::temp_dir().join(format!("clientbase-idem-{}", uuid::Uuid::new_v4().simple()));
    let lease = [("CLIENTBASE_IDEMPOTENCY_LEASE_SECS", "2")];
    let mut first = start(&url, &dir, &lease).await;
    let http = reqwest::Client::new();
    let token = login(&http, &first.base).await;
    let mut lock = hold_clients(&url);

    let request = http
        .post(format!("{}/api/v1/sync/clients", first.base))
        .bearer_auth(&token)
        .header("Idempotency-Key", "nightly-2026-12-03")
        .json(&batch("e"));
    let in_flight = tokio::spawn(request.send());
    let mut conn = clientbase::db::establish(&url).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while key_state(&mut conn, "nightly-2026-12-03").0 == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.kill();
    assert!(in_flight.await.unwrap().is_err(), "the request died with its process");
    let (rows, done) = key_state(&mut conn, "nightly-2026-12-03");
    assert_eq!(rows, 1, "the key was claimed");
    if lock.is_some() {
        assert_eq!(done, 0, "the request was held before its work");
    }
    drop(lock.take());

    // Retries from the sync job reach another process; within the lease they are told to wait,
    // then one runs the batch.
    let second = start(&url, &dir, &lease).await;
    let retry = || {
        http.post(format!("{}/api/v1/sync/clients", second.base))
            .bearer_auth(&token)
            .header("Idempotency-Key", "nightly-2026-12-03")
            .json(&batch("e"))
            .send()
    };
    let started = Instant::now();
    let res = loop {
        let res = retry().await.unwrap();
        if res.status() != 409 || started.elapsed() > Duration::from_secs(15) {
            break res;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(res.status(), 200, "after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(5), "free within the lease: {:?}", started.elapsed());
    let body = json(res).await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1000), "{body}");
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM clients"), 1000, "every client once");
    let again = retry().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_running_request_keeps_its_key_past_the_lease_and_a_duplicate_never_runs() {
    let app = TestApp::spawn_with(|c| c.idempotency_lease_secs = 1).await;
    let url = app.state.config.database_url.clone();
    let Some(mut lock) = hold_clients(&url) else {
        // Holding a request mid-work from outside takes a table lock, which SQLite has not;
        // there the lease is taken and renewed by the same statements, run by the test above.
        return;
    };
    let send =
        || app.admin(Method::POST, "/api/v1/sync/clients").header("Idempotency-Key", "held").json(&batch("h")).send();
    let first = tokio::spawn(send());
    let deadline = Instant::now() + Duration::from_secs(20);
    while key_state(&mut app.conn(), "held").0 == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Three leases long, the first request is held; every duplicate meanwhile is refused.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        problem(send().await.unwrap(), 409).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    lock.batch_execute("ROLLBACK").unwrap();
    let res = first.await.unwrap().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM clients"), 1000, "the batch ran once");
    let res = send().await.unwrap();
    assert_eq!(res.headers()["idempotent-replayed"], "true");
}
