//! Requests that are not valid HTTP/1.1 are answered with problem+json, whether they open a
//! connection or follow good requests on a kept-alive one, and the connection is closed after.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

/// Writes `bytes` on a fresh connection and reads until the server closes it.
fn exchange(addr: &str, bytes: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("the server closes the connection after the problem");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status and problem body of the last response in `answer`.
fn last_problem(answer: &str) -> (u16, Value) {
    let start = answer.rfind("HTTP/1.1 ").expect("a response");
    let response = &answer[start..];
    let status = response[9..12].parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: application/problem+json"), "{response}");
    assert!(head.contains("connection: close"), "{response}");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}")))
}

async fn ask(app: &TestApp, bytes: Vec<u8>) -> String {
    let addr = app.base.trim_start_matches("http://").to_string();
    tokio::task::spawn_blocking(move || exchange(&addr, &bytes)).await.unwrap()
}

#[actix_web::test]
async fn malformed_heads_get_problems_not_bare_answers() {
    let app = TestApp::spawn().await;
    for (bytes, status, says) in [
        (b"GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n".to_vec(), 400, "header"),
        (b"\x01\x02 nonsense\r\n\r\n".to_vec(), 400, ""),
        (b"GET /health/live HTTP/1.1\r\n\r\n".to_vec(), 400, "Host"),
        (b"GET /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n".to_vec(), 400, ""),
    ] {
        let answer = ask(&app, bytes.clone()).await;
        let (got, problem) = last_problem(&answer);
        assert_eq!(got, status, "{answer}");
        assert_eq!(problem["status"], status);
        assert_eq!(problem["type"], "/problems/bad-request");
        assert!(problem["detail"].as_str().unwrap().contains(says), "{answer}");
    }
}

#[actix_web::test]
async fn an_oversize_head_is_431_with_a_problem() {
    let app = TestApp::spawn().await;
    let mut head = b"GET /health/live HTTP/1.1\r\nHost: x\r\nCookie: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 200 * 1024));
    head.extend_from_slice(b"\r\n\r\n");
    let answer = ask(&app, head).await;
    let (status, problem) = last_problem(&answer);
    assert_eq!(status, 431, "{answer}");
    assert_eq!(problem["type"], "/problems/headers-too-large");
    // A request of ordinary size on the next connection is served.
    let res = app.http.get(format!("{}/health/live", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn a_bad_head_after_good_requests_on_one_connection_is_answered_in_order() {
    let app = TestApp::spawn().await;
    let mut bytes = Vec::new();
    for _ in 0..2 {
        bytes.extend_from_slice(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    let form = "grant_type=password&username=nobody%40example.ru&password=wrong-password";
    let post = format!(
        "POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{form}",
        form.len()
    );
    bytes.extend_from_slice(post.as_bytes());
    bytes
        .extend_from_slice(b"GET /health/live HTTP/9.9\r\nHost: x\r\n\r\nGET /health/live HTTP/1.1\r\nHost: x\r\n\r\n");
    let answer = ask(&app, bytes).await;
    let statuses: Vec<&str> = answer.match_indices("HTTP/1.1 ").map(|(i, _)| &answer[i + 9..i + 12]).collect();
    // The two reads, the refused login (its body read through), then the problem; nothing after.
    assert_eq!(statuses.len(), 4, "{answer}");
    assert_eq!(statuses[..2], ["200", "200"], "{answer}");
    assert!(statuses[2] == "400" || statuses[2] == "401", "{answer}");
    assert_eq!(statuses[3], "400", "{answer}");
    let (_, problem) = last_problem(&answer);
    assert_eq!(problem["type"], "/problems/bad-request");
}
