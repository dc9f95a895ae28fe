//! The sales reports remembered per write generation: the same request answers from memory while
//! nothing changed, and every write that changes what the reports read (a sale added or deleted,
//! a card edited, a sync batch), on this server or another replica, makes the next answer fresh.

use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

const ABC: &str = "/api/v1/analytics/abc-xyz?from=2026-01-01&to=2026-04-30";
const SUMMARY: &str = "/api/v1/analytics/summary?from=2026-01-01&to=2026-04-30";

/// The `report_memo_hits_total` and `report_memo_misses_total` of a server.
async fn memo_counts(app: &TestApp) -> (u64, u64) {
    let text = app.anon(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    let read = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    (read("report_memo_hits_total "), read("report_memo_misses_total "))
}

async fn get(app: &TestApp, path: &str) -> Value {
    let res = app.admin(Method::GET, path).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    json(res).await
}

async fn sale(app: &TestApp, client: i64, day: &str, amount: &str) -> i64 {
    let res = app
        .admin(Method::POST, "/api/v1/sales")
        .json(&json!({"client_id": client, "sold_on": day, "amount": amount}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    json(res).await["id"].as_i64().unwrap()
}

fn total(r: &Value) -> &str {
    r["total"].as_str().unwrap()
}

#[tokio::test]
async fn a_write_on_any_replica_refreshes_the_remembered_report() {
    let app = TestApp::spawn().await;
    let replica = app.replica().await;
    let a = app.client(json!({"name": "Альфа", "status": "active", "channel": "retail"})).await["id"].as_i64().unwrap();
    sale(&app, a, "2026-02-10", "100.00").await;

    let first = get(&app, ABC).await;
    assert_eq!(total(&first), "100.00");
    let (hits, misses) = memo_counts(&app).await;
    let again = get(&app, ABC).await;
    assert_eq!(again, first);
    assert_eq!(memo_counts(&app).await, (hits + 1, misses), "the same request, nothing written: remembered");

    // A sale written through the other replica.
    let s = sale(&replica, a, "2026-03-10", "50.00").await;
    assert_eq!(total(&get(&app, ABC).await), "150.00");
    assert_eq!(memo_counts(&app).await.1, misses + 1, "the write made the next answer fresh");

    // Deleted on the replica.
    let res = replica.admin(Method::DELETE, &format!("/api/v1/sales/{s}")).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(total(&get(&app, ABC).await), "100.00");

    // A card edited with its ETag: the client leaves the channel the report asks for.
    let retail = format!("{ABC}&channel=retail");
    assert_eq!(get(&app, &retail).await["clients"], 1);
    let card = replica.admin(Method::GET, &format!("/api/v1/clients/{a}")).send().await.unwrap();
    let etag = card.headers()["etag"].to_str().unwrap().to_string();
    let res = replica
        .admin(Method::PATCH, &format!("/api/v1/clients/{a}"))
        .header("If-Match", etag)
        .json(&json!({"channel": "wholesale"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(get(&app, &retail).await["clients"], 0);

    // A sync batch creating a client, seen by the summary's status counts.
    let before = get(&app, SUMMARY).await;
    let res = replica
        .admin(Method::POST, "/api/v1/sync/clients")
        .json(&json!({"source": "1c", "items": [{"external_id": "k-1", "name": "Бета", "status": "potential"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let after = get(&app, SUMMARY).await;
    assert_ne!(after, before, "the new potential client is counted");
}

#[tokio::test]
async fn folding_the_marks_keeps_the_answer_and_a_manager_never_gets_another_callers() {
    let app = TestApp::spawn().await;
    let (me, token) = app.user(Role::Manager, "m@example.ru");
    let mine = app.client(json!({"name": "Моя", "status": "active", "owner_id": me})).await["id"].as_i64().unwrap();
    let other = app.client(json!({"name": "Чужая", "status": "active"})).await["id"].as_i64().unwrap();
    sale(&app, mine, "2026-02-10", "10.00").await;
    sale(&app, other, "2026-02-11", "990.00").await;

    let generation = |app: &TestApp| clientbase::memo::generation(&mut app.conn()).unwrap();
    let g = generation(&app);
    assert_eq!(total(&get(&app, ABC).await), "1000.00");
    let (hits, _) = memo_counts(&app).await;
    clientbase::memo::fold(&mut app.conn()).unwrap();
    assert_eq!(generation(&app), g, "folding keeps the generation");
    assert_eq!(total(&get(&app, ABC).await), "1000.00");
    assert_eq!(memo_counts(&app).await.0, hits + 1, "still remembered after the fold");

    // The director's answer is remembered; the manager's same request is their own.
    let res = app.req(Method::GET, ABC, &token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let r = json(res).await;
    assert_eq!(total(&r), "10.00");
    assert_eq!(r["items"].as_array().unwrap().len(), 1);
    assert_eq!(r["items"][0]["client_id"], mine);
}
