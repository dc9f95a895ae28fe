use std::collections::HashMap;
use std::time::Duration;

use diesel::RunQueryDsl;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::{signature_valid, Receiver, Reply};

async fn endpoint(app: &TestApp, receiver: &Receiver, name: &str, events: Value) -> Value {
    let res = app
        .admin(Method::POST, "/api/v1/webhooks")
        .json(&json!({"name": name, "url": receiver.url, "event_types": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    json(res).await
}

async fn deliveries(app: &TestApp, webhook: &Value) -> Vec<Value> {
    let page =
        json(app.admin(Method::GET, &format!("/api/v1/webhooks/{}/deliveries", webhook["id"])).send().await.unwrap())
            .await;
    page["items"].as_array().unwrap().clone()
}

async fn until<F: Fn(&[Value]) -> bool>(app: &TestApp, webhook: &Value, secs: u64, done: F) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let list = deliveries(app, webhook).await;
        if done(&list) || std::time::Instant::now() > deadline {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn events_reach_the_receiver_signed_within_seconds() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let hook = endpoint(&app, &receiver, "crm-listener", json!(["*"])).await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    // The secret is shown once.
    let shown = json(app.admin(Method::GET, &format!("/api/v1/webhooks/{}", hook["id"])).send().await.unwrap()).await;
    assert!(shown.get("secret").is_none());

    let started = std::time::Instant::now();
    let client = app.client(json!({"name": "Ромашка"})).await;
    let got = receiver.wait_for(1, 5).await;
    assert_eq!(got.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    let r = &got[0];
    assert!(signature_valid(&secret, r), "{:?}", r.headers);
    assert!(r.id().starts_with("msg_"));
    assert_eq!(r.headers["content-type"], "application/json");
    let body = r.json();
    assert_eq!(body["type"], "client.created");
    assert_eq!(body["data"]["id"], client["id"]);
    assert_eq!(body["data"]["name"], "Ромашка");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    let log = until(&app, &hook, 3, |l| l.iter().any(|d| d["status"] == "delivered")).await;
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["response_status"], 200);
    assert_eq!(log[0]["response_excerpt"], "thanks");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["message_id"], r.id());

    // Redelivery sends the same message again, with the same id.
    let id = log[0]["id"].as_i64().unwrap();
    let res = app
        .admin(Method::POST, &format!("/api/v1/webhooks/{}/deliveries/{id}/redeliver", hook["id"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let got = receiver.wait_for(2, 5).await;
    assert_eq!(got[1].id(), got[0].id());
    // A test ping.
    assert_eq!(
        app.admin(Method::POST, &format!("/api/v1/webhooks/{}/test", hook["id"])).send().await.unwrap().status(),
        202
    );
    let got = receiver.wait_for(3, 5).await;
    assert_eq!(got[2].json()["type"], "webhook.test");
}

#[tokio::test]
async fn endpoints_get_only_the_events_they_subscribe_to() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    endpoint(&app, &receiver, "won-deals", json!(["deal.won"])).await;
    let client = app.client(json!({"name": "Ромашка"})).await;
    let pipelines = json(app.admin(Method::GET, "/api/v1/pipelines").send().await.unwrap()).await;
    let won = pipelines[0]["stages"].as_array().unwrap().iter().find(|s| s["kind"] == "won").unwrap()["id"].clone();
    let deal = json(
        app.admin(Method::POST, "/api/v1/deals")
            .json(&json!({"client_id": client["id"], "title": "X"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    app.admin(Method::POST, &format!("/api/v1/deals/{}/stage", deal["id"]))
        .json(&json!({"stage_id": won}))
        .send()
        .await
        .unwrap();
    let got = receiver.wait_for(1, 5).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got_all = receiver.received();
    assert_eq!(got_all.len(), 1, "{:?}", got.iter().map(|r| r.json()["type"].clone()).collect::<Vec<_>>());
    assert_eq!(got_all[0].json()["type"], "deal.won");
    let res = app
        .admin(Method::POST, "/api/v1/webhooks")
        .json(&json!({"name": "x", "url": receiver.url, "event_types": ["deal.maybe"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["event_types[0]"]);
}

#[tokio::test]
async fn failures_are_retried_with_the_same_id_and_retry_after_is_honoured() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let hook = endpoint(&app, &receiver, "flaky", json!(["client.created"])).await;
    // A 500, a request that outlives the 2-second timeout, a 503 asking for 3 seconds, then 200.
    receiver.script([Reply::Status(500), Reply::Hang(Duration::from_secs(4)), Reply::RetryAfter(503, 3)]);
    app.client(json!({"name": "Ромашка"})).await;
    let got = receiver.wait_for(4, 20).await;
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|r| r.id() == got[0].id()), "one message, one id");
    assert!(got.iter().all(|r| signature_valid(hook["secret"].as_str().unwrap(), r)));
    let waited = got[3].at - got[2].at;
    assert!(waited >= Duration::from_millis(2900), "Retry-After: 3 was not honoured ({waited:?})");
    let log = until(&app, &hook, 5, |l| l.first().is_some_and(|d| d["status"] == "delivered")).await;
    assert_eq!(log[0]["attempts"], 4);
    let hook_now =
        json(app.admin(Method::GET, &format!("/api/v1/webhooks/{}", hook["id"])).send().await.unwrap()).await;
    assert_eq!(hook_now["active"], true);
}

#[tokio::test]
async fn gone_disables_at_once_and_persistent_failure_after_the_schedule() {
    let app = TestApp::spawn().await;
    let gone = Receiver::start().await;
    let hook = endpoint(&app, &gone, "gone", json!(["*"])).await;
    gone.script([Reply::Status(410)]);
    app.client(json!({"name": "Первый"})).await;
    gone.wait_for(1, 5).await;
    let log = until(&app, &hook, 5, |l| l.first().is_some_and(|d| d["status"] == "failed")).await;
    assert_eq!((log[0]["status"].as_str(), log[0]["response_status"].as_i64()), (Some("failed"), Some(410)));
    let state = json(app.admin(Method::GET, &format!("/api/v1/webhooks/{}", hook["id"])).send().await.unwrap()).await;
    assert_eq!(state["active"], false);
    assert!(state["disabled_reason"].as_str().unwrap().contains("410"));
    // Disabled: later events are not sent to it.
    app.client(json!({"name": "Второй"})).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(gone.received().len(), 1);

    let broken = Receiver::start().await;
    let hook = endpoint(&app, &broken, "broken", json!(["*"])).await;
    broken.script((0..10).map(|_| Reply::Status(500)));
    app.client(json!({"name": "Третий"})).await;
    // The test schedule retries three times, a second apart: four attempts, then it gives up.
    let got = broken.wait_for(4, 15).await;
    assert_eq!(got.len(), 4);
    let log = until(&app, &hook, 5, |l| l.first().is_some_and(|d| d["status"] == "failed")).await;
    assert_eq!(log[0]["attempts"], 4);
    let state = json(app.admin(Method::GET, &format!("/api/v1/webhooks/{}", hook["id"])).send().await.unwrap()).await;
    assert_eq!(state["active"], false);
    assert!(state["disabled_reason"].as_str().unwrap().contains("failed 4 times"));
    // Re-enabling clears the reason; a redelivery then goes through.
    broken.script([]);
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/webhooks/{}", hook["id"]))
        .json(&json!({"active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await["disabled_reason"], Value::Null);
    app.admin(Method::POST, &format!("/api/v1/webhooks/{}/deliveries/{}/redeliver", hook["id"], log[0]["id"]))
        .send()
        .await
        .unwrap();
    let log = until(&app, &hook, 10, |l| l.first().is_some_and(|d| d["status"] == "delivered")).await;
    assert_eq!(log[0]["status"], "delivered", "{:?}", log[0]);
}

#[tokio::test]
async fn rotation_signs_with_both_secrets_for_a_while() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let hook = endpoint(&app, &receiver, "rotating", json!(["client.created"])).await;
    let old = hook["secret"].as_str().unwrap().to_string();
    let res = app.admin(Method::POST, &format!("/api/v1/webhooks/{}/rotate-secret", hook["id"])).send().await.unwrap();
    let rotated = json(res).await;
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(old, new);
    assert!(rotated["previous_secret_valid_until"].is_string());
    app.client(json!({"name": "Ромашка"})).await;
    let got = receiver.wait_for(1, 5).await;
    assert!(signature_valid(&old, &got[0]));
    assert!(signature_valid(&new, &got[0]));
    assert!(!signature_valid("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &got[0]));
}

#[tokio::test]
async fn private_and_odd_targets_are_refused() {
    let app = TestApp::spawn_with(|c| c.webhook_allowed = Default::default()).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        // IPv4 inside IPv6, tunnel and translation prefixes, and the rest of the IANA registries.
        "http://[::127.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "http://[2002:7f00:1::1]/",
        "http://[fec0::1]/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "http://198.18.0.1/",
        "http://192.0.0.170/",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let res =
            app.admin(Method::POST, "/api/v1/webhooks").json(&json!({"name": "x", "url": url})).send().await.unwrap();
        assert_eq!(fields(&problem(res, 422).await), ["url"], "{url}");
    }
    let (_, manager) = app.user(clientbase::auth::scopes::Role::Manager, "m@example.ru");
    problem(app.req(Method::GET, "/api/v1/webhooks", &manager).send().await.unwrap(), 403).await;
}

#[tokio::test]
async fn a_stored_target_is_checked_again_at_every_delivery() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let hook = endpoint(&app, &receiver, "moved", json!(["*"])).await;
    // A target stored before the guard knew its range: the delivery refuses it all the same.
    let port = receiver.url.rsplit(':').next().unwrap().split('/').next().unwrap().to_string();
    let moved = format!("http://[::127.0.0.1]:{port}/hook");
    diesel::sql_query(format!("UPDATE webhooks SET url = '{moved}' WHERE id = {}", hook["id"]))
        .execute(&mut app.conn())
        .unwrap();
    app.client(json!({"name": "Ромашка"})).await;
    let log = until(&app, &hook, 10, |l| l.first().is_some_and(|d| d["last_error"].is_string())).await;
    let error = log[0]["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("not allowed"), "{:?}", log[0]);
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn two_replicas_deliver_each_event_once() {
    let app = TestApp::spawn().await;
    let replica = app.replica().await;
    let receiver = Receiver::start().await;
    endpoint(&app, &receiver, "both", json!(["client.created"])).await;
    for i in 0..20 {
        let who = if i % 2 == 0 { &app } else { &replica };
        let res = who
            .admin(Method::POST, "/api/v1/clients")
            .json(&json!({"name": format!("Клиент {i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let got = receiver.wait_for(20, 10).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got_all = receiver.received();
    assert_eq!(got.len(), 20);
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in &got_all {
        *per_id.entry(r.id()).or_default() += 1;
    }
    assert_eq!(per_id.len(), 20);
    assert!(per_id.values().all(|n| *n == 1), "a message was sent twice: {per_id:?}");
}
