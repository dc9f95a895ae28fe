//! Rate limits per caller and route class: the `RateLimit` headers on every API response, 429
//! with `Retry-After` past the quota, a separate count per caller and class, the token endpoint
//! counted per address, and one count across replicas.

use std::time::Duration;

use clientbase::auth::scopes::Role;
use clientbase::config::{Config, Quota, RateLimits};
use reqwest::{Method, Response};

use crate::helpers::*;

const DAY: u32 = 86_400;

fn limits(token: u32, bulk: u32, default: u32) -> impl FnOnce(&mut Config) + Clone {
    move |c: &mut Config| {
        c.rate_limits = RateLimits {
            token: Some(Quota { requests: token, window_secs: DAY }),
            bulk: Some(Quota { requests: bulk, window_secs: DAY }),
            default: Some(Quota { requests: default, window_secs: DAY }),
        }
    }
}

/// Waits while the day's window is about to end, so that a test's counts stay in one window.
async fn clear_of_window_end() {
    let into = chrono::Utc::now().timestamp().rem_euclid(i64::from(DAY));
    if into > i64::from(DAY) - 5 {
        tokio::time::sleep(Duration::from_secs((i64::from(DAY) - into + 1) as u64)).await;
    }
}

fn header(res: &Response, name: &str) -> String {
    res.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// The `r` (remaining) of a `RateLimit` header.
fn remaining(res: &Response) -> u32 {
    let value = header(res, "ratelimit");
    value
        .split(';')
        .find_map(|p| p.strip_prefix("r="))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("{value}"))
}

async fn get(app: &TestApp, path: &str, token: &str) -> Response {
    app.req(Method::GET, path, token).send().await.unwrap()
}

async fn refused(res: Response) {
    let retry: u32 = header(&res, "retry-after").parse().unwrap();
    assert!((1..=DAY).contains(&retry), "Retry-After {retry}");
    assert_eq!(remaining(&res), 0);
    let p = problem(res, 429).await;
    assert!(p["detail"].as_str().unwrap().contains("requests"), "{p}");
}

#[tokio::test]
async fn each_caller_has_a_quota_per_route_class_announced_on_every_response() {
    clear_of_window_end().await;
    let app = TestApp::spawn_with(limits(3, 2, 4)).await;
    let token = app.admin_token.clone();
    for left in (0..4).rev() {
        let res = get(&app, "/api/v1/clients", &token).await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit-policy"), format!("\"default\";q=4;w={DAY}"));
        assert_eq!(remaining(&res), left);
    }
    refused(get(&app, "/api/v1/channels", &token).await).await;

    // Bulk endpoints have a count of their own.
    let res = get(&app, "/api/v1/sync/changes", &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "ratelimit-policy"), format!("\"bulk\";q=2;w={DAY}"));
    assert_eq!(remaining(&res), 1);

    // So has every other caller; and probes are never limited.
    let (_, manager) = app.user(Role::Manager, "m@example.ru");
    let res = get(&app, "/api/v1/clients", &manager).await;
    assert_eq!(res.status(), 200);
    assert_eq!(remaining(&res), 3);
    let res = app.anon(Method::GET, "/health/ready").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("ratelimit").is_none());
}

#[tokio::test]
async fn the_token_endpoint_is_counted_per_address() {
    clear_of_window_end().await;
    let app = TestApp::spawn_with(limits(2, 100, 100)).await;
    let login = || {
        app.anon(Method::POST, "/api/v1/auth/token").form(&[
            ("grant_type", "password"),
            ("username", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
        ])
    };
    for left in [1, 0] {
        let res = login().send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit-policy"), format!("\"token\";q=2;w={DAY}"));
        assert_eq!(remaining(&res), left);
    }
    refused(login().send().await.unwrap()).await;
    // A token already issued still works: the token endpoint's count is its own.
    assert_eq!(get(&app, "/api/v1/clients", &app.admin_token).await.status(), 200);
}

#[tokio::test]
async fn replicas_share_one_count() {
    clear_of_window_end().await;
    let a = TestApp::spawn_with(limits(100, 100, 6)).await;
    let b = a.replica_with(limits(100, 100, 6)).await;
    let token = a.admin_token.clone();
    for _ in 0..4 {
        assert_eq!(get(&a, "/api/v1/clients", &token).await.status(), 200);
    }
    let flushed = 3 * clientbase::http::rate_limit::FLUSH_EVERY;
    tokio::time::sleep(flushed).await;
    // b learns a's four requests when it shares its first.
    assert_eq!(get(&b, "/api/v1/clients", &token).await.status(), 200);
    tokio::time::sleep(flushed).await;
    let res = get(&b, "/api/v1/clients", &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(remaining(&res), 0, "b counts a's requests");
    refused(get(&b, "/api/v1/clients", &token).await).await;
    tokio::time::sleep(flushed).await;
    // a, whose count was 4, learns the rest at its next share.
    let _ = get(&a, "/api/v1/clients", &token).await;
    tokio::time::sleep(flushed).await;
    refused(get(&a, "/api/v1/clients", &token).await).await;
    let mut conn = a.conn();
    let shared = count(&mut conn, "SELECT CAST(SUM(hits) AS BIGINT) AS n FROM rate_counts WHERE class = 'default'");
    assert_eq!(shared, 7, "six requests let through, and a's one past the quota before it learnt the total");
}
