//! Bad input found by drills: extreme dates, forged cursors, array bodies, methods a path does
//! not answer, and ids that must never come back.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

#[actix_web::test]
async fn dates_outside_the_years_1_to_9999_are_refused_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let client = app.client(json!({"name": "Dated"})).await;
    app.admin(Method::POST, "/api/v1/sales")
        .json(&json!({"client_id": client["id"], "amount": "100.00", "sold_on": "2026-01-10"}))
        .send()
        .await
        .unwrap();
    for (query, field) in [
        ("/api/v1/analytics/abc-xyz?to=-262143-01-05", "to"),
        ("/api/v1/analytics/abc-xyz?from=-4714-11-24", "from"),
        ("/api/v1/analytics/completeness?from=-4714-11-24", "from"),
        ("/api/v1/analytics/reactivation?as_of=-262143-01-01", "as_of"),
        ("/api/v1/analytics/summary?from=2020-01-01&to=%2B262142-12-31", "to"),
        ("/api/v1/clients?updated_since=-4714-11-24T00:00:00Z", "updated_since"),
        ("/api/v1/sales?updated_since=-4714-11-24T00:00:00Z", "updated_since"),
        ("/api/v1/audit-log?from=-4714-11-24T00:00:00Z", "from"),
        ("/api/v1/analytics/summary?from=0000-01-01&to=2020-01-01", "from"),
    ] {
        let p = problem(app.admin(Method::GET, query).send().await.unwrap(), 400).await;
        assert_eq!(fields(&p), [field], "{query}");
    }
    // The edges of the range still answer.
    for query in ["/api/v1/analytics/summary?from=0001-01-01&to=9999-12-31", "/api/v1/analytics/abc-xyz?to=9999-12-31"]
    {
        let res = app.admin(Method::GET, query).send().await.unwrap();
        assert_eq!(res.status(), 200, "{query}");
    }

    let res = app
        .admin(Method::POST, &format!("/api/v1/clients/{}/contacts", client["id"]))
        .json(&json!({"name": "Old", "birthday": "-4714-01-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["birthday"]);
    let res = app
        .admin(Method::POST, "/api/v1/sales/batch")
        .json(&json!({"items": [
            {"client_id": client["id"], "amount": "1.00", "sold_on": "2026-01-11"},
            {"client_id": client["id"], "amount": "1.00", "sold_on": "+262142-12-31"}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["items[1].sold_on"]);
    // Free text that merely starts like such a date is not a date.
    let res = app
        .admin(Method::POST, &format!("/api/v1/clients/{}/contacts", client["id"]))
        .json(&json!({"name": "-2020-01-01 call back"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

fn forged(cursor: &str, key: Value) -> String {
    let mut decoded: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(cursor).unwrap()).unwrap();
    decoded["k"] = key;
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&decoded).unwrap())
}

#[actix_web::test]
async fn forged_cursor_keys_are_refused_like_any_input() {
    let app = TestApp::spawn().await;
    for name in ["Alpha", "Beta", "Gamma"] {
        app.client(json!({"name": name})).await;
    }
    for sort in ["name", "updated_at"] {
        let page =
            json(app.admin(Method::GET, &format!("/api/v1/clients?limit=1&sort={sort}")).send().await.unwrap()).await;
        let cursor = page["next_cursor"].as_str().unwrap().to_string();
        for key in [json!("a\u{0}b"), json!("-4714-11-24T00:00:00"), json!("+262142-01-01T00:00:00")] {
            let path = format!("/api/v1/clients?limit=1&sort={sort}&cursor={}", forged(&cursor, key.clone()));
            let p = problem(app.admin(Method::GET, &path).send().await.unwrap(), 400).await;
            assert!(p.to_string().contains("cursor"), "{sort} {key}: {p}");
        }
        // The genuine cursor still pages on.
        let path = format!("/api/v1/clients?limit=1&sort={sort}&cursor={cursor}");
        assert_eq!(
            json(app.admin(Method::GET, &path).send().await.unwrap()).await["items"].as_array().unwrap().len(),
            1
        );
    }
}

#[actix_web::test]
async fn a_body_must_be_an_object() {
    let app = TestApp::spawn().await;
    let res = app
        .admin(Method::POST, "/api/v1/channels")
        .json(&json!({"code": "fair", "name": "Trade fair"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    for body in [json!([null, null]), json!(["Renamed"]), json!([])] {
        let res = app.admin(Method::PATCH, "/api/v1/channels/fair").json(&body).send().await.unwrap();
        assert_eq!(fields(&problem(res, 422).await), ["body"], "{body}");
    }
    let res = app.admin(Method::POST, "/api/v1/clients").json(&json!(["Array Ltd"])).send().await.unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["body"]);
    let channels = json(app.admin(Method::GET, "/api/v1/channels").send().await.unwrap()).await;
    let fair = channels.as_array().unwrap().iter().find(|c| c["code"] == "fair").unwrap().clone();
    assert_eq!(fair["name"], "Trade fair", "nothing was changed");
}

#[actix_web::test]
async fn a_path_answers_405_with_allow_for_methods_it_lacks() {
    let app = TestApp::spawn().await;
    let send = |method: &str, path: &str| {
        app.http
            .request(Method::from_bytes(method.as_bytes()).unwrap(), app.url(path))
            .bearer_auth(&app.admin_token)
            .send()
    };
    for (method, path, allow) in [
        ("TRACE", "/api/v1/clients", "GET, HEAD, POST, OPTIONS"),
        ("DELETE", "/api/v1/clients", "GET, HEAD, POST, OPTIONS"),
        ("PUT", "/api/v1/clients/7", "GET, HEAD, PATCH, DELETE, OPTIONS"),
        ("POST", "/api/v1/clients/duplicates", "GET, HEAD, OPTIONS"),
        ("TRACE", "/health/live", "GET, HEAD, OPTIONS"),
    ] {
        let res = send(method, path).await.unwrap();
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        let p = problem(res, 405).await;
        assert_eq!(p["type"], "/problems/method-not-allowed");
    }
    let res = send("TRACE", "/nowhere").await.unwrap();
    assert_eq!(res.headers()["allow"], "");
    problem(res, 405).await;
    let res = send("OPTIONS", "/api/v1/webhooks/3").await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["allow"], "GET, HEAD, PATCH, DELETE, OPTIONS");
    problem(send("GET", "/api/v1/nowhere").await.unwrap(), 404).await;
    problem(send("GET", "/api/v1/clients/").await.unwrap(), 404).await;

    // HEAD is GET without the body.
    app.client(json!({"name": "Headed"})).await;
    let get = send("GET", "/api/v1/clients").await.unwrap();
    let head = send("HEAD", "/api/v1/clients").await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-type"], get.headers()["content-type"]);
    assert!(!get.bytes().await.unwrap().is_empty());
    assert!(head.bytes().await.unwrap().is_empty());
    assert_eq!(send("HEAD", "/api/v1/nowhere").await.unwrap().status(), 404);
}

#[actix_web::test]
async fn ids_of_deleted_rows_are_never_reused() {
    let app = TestApp::spawn().await;
    let create = |path: &'static str, body: Value| {
        let request = app.admin(Method::POST, path).json(&body);
        async move {
            let res = request.send().await.unwrap();
            assert_eq!(res.status(), 201, "{path}");
            json(res).await["id"].as_i64().unwrap()
        }
    };
    let webhook = || json!({"name": "hook", "url": "http://127.0.0.1:9/hook"});
    let segment = || json!({"name": "seg", "filter": {}});
    for (path, body) in [("/api/v1/webhooks", webhook as fn() -> Value), ("/api/v1/segments", segment)] {
        let first = create(path, body()).await;
        let res = app.admin(Method::DELETE, &format!("{path}/{first}")).send().await.unwrap();
        assert_eq!(res.status(), 204, "{path}");
        let second = create(path, body()).await;
        assert!(second > first, "{path}: {second} after {first}");
    }
}

#[actix_web::test]
async fn a_body_trickling_in_is_cut_off_with_408_and_its_connection_closed() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let app = TestApp::spawn_with(|c| c.body_timeout_secs = 1).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let head = format!(
        "POST /api/v1/clients HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 40\r\n\r\n",
        app.admin_token
    );
    let started = Instant::now();
    let slow: Vec<_> = (0..20)
        .map(|_| {
            let (addr, head) = (addr.clone(), head.clone());
            tokio::task::spawn_blocking(move || {
                let mut stream = std::net::TcpStream::connect(&addr).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                stream.write_all(head.as_bytes()).unwrap();
                // A byte every 300 ms, then nothing (more would reach a closed socket).
                for byte in br#"{"n"#.iter() {
                    std::thread::sleep(Duration::from_millis(300));
                    stream.write_all(&[*byte]).unwrap();
                }
                // The server answers and closes: reading ends rather than timing out.
                let mut answer = Vec::new();
                let closed = stream.read_to_end(&mut answer).is_ok();
                (closed, String::from_utf8_lossy(&answer).into_owned())
            })
        })
        .collect();
    for task in slow {
        let (closed, answer) = task.await.unwrap();
        assert!(closed, "the connection was closed: {answer}");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("application/problem+json"), "{answer}");
    }
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM clients"), 0, "nothing half-read was written");
    // A body that arrives in time is served as ever.
    app.client(json!({"name": "Prompt"})).await;
}

/// Sends a request head with `Expect: 100-continue` and returns the first answer's text.
fn ask_to_continue(addr: &str, head: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[actix_web::test]
async fn a_body_too_large_for_its_route_is_refused_before_it_is_sent() {
    let app = TestApp::spawn_with(|c| c.import_max_bytes = 1024 * 1024).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let head = |path: &str, length: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n",
            app.admin_token
        )
    };
    // Over the JSON limit (256 KiB in the tests): 413 at once, never 100 Continue.
    let (a, h) = (addr.clone(), head("/api/v1/clients", 300 * 1024));
    let answer = tokio::task::spawn_blocking(move || ask_to_continue(&a, &h)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    // The same size is within the upload limit of imports; a larger one is not.
    let (a, h) = (addr.clone(), head("/api/v1/imports?entity=clients", 300 * 1024));
    let answer = tokio::task::spawn_blocking(move || ask_to_continue(&a, &h)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 100 Continue"), "{answer}");
    let (a, h) = (addr.clone(), head("/api/v1/imports?entity=clients", 2 * 1024 * 1024));
    let answer = tokio::task::spawn_blocking(move || ask_to_continue(&a, &h)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A body within the limit gets 100 Continue and is served.
    let res = app
        .admin(Method::POST, "/api/v1/clients")
        .header("Expect", "100-continue")
        .json(&json!({"name": "Asked first"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(count(&mut app.conn(), "SELECT COUNT(*) AS n FROM clients"), 1);
}
