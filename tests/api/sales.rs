use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

async fn batch(app: &TestApp, query: &str, body: Value) -> Value {
    let res = app.admin(Method::POST, &format!("/api/v1/sales/batch{query}")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    json(res).await
}

fn statuses(result: &Value) -> Vec<String> {
    result["items"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_sale_updates_the_clients_figures() {
    let app = TestApp::spawn().await;
    let c = app.client(json!({"name": "Ромашка", "channel": "retail"})).await;
    let cid = c["id"].as_i64().unwrap();
    let res = app
        .admin(Method::POST, "/api/v1/sales")
        .json(&json!({"client_id": cid, "sold_on": "2026-01-10", "amount": "1000", "cost": "600.50", "document_number": "РН-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let sale = json(res).await;
    assert_eq!((sale["amount"].as_str(), sale["margin"].as_str()), (Some("1000.00"), Some("399.50")));
    assert_eq!(sale["channel"], "retail");
    assert_eq!(sale["currency"], "RUB");
    for (day, amount) in [("2026-01-10", "500"), ("2026-02-09", "250"), ("2026-03-11", "250")] {
        let res = app
            .admin(Method::POST, "/api/v1/sales")
            .json(&json!({"client_id": cid, "sold_on": day, "amount": amount, "margin": "100"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{cid}")).send().await.unwrap()).await;
    let p = &card["purchases"];
    assert_eq!(p["first_purchase_on"], "2026-01-10");
    assert_eq!(p["last_purchase_on"], "2026-03-11");
    assert_eq!(p["purchase_count"], 4);
    assert_eq!(p["revenue"], "2000.00");
    assert_eq!(p["margin"], "699.50");
    // Three purchase days over 60 days: an interval of 30.
    assert_eq!(p["average_interval_days"], 30.0);
    // The card itself did not change.
    assert_eq!(card["version"], 1);

    let path = format!("/api/v1/sales/{}", sale["id"]);
    let res = app.admin(Method::PATCH, &path).json(&json!({"amount": "1100"})).send().await.unwrap();
    let patched = json(res).await;
    assert_eq!(patched["margin"], "499.50", "the cost stays, the margin follows the amount");
    assert_eq!(app.admin(Method::DELETE, &path).send().await.unwrap().status(), 204);
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{cid}")).send().await.unwrap()).await;
    assert_eq!(card["purchases"]["revenue"], "1000.00");
    assert_eq!(card["purchases"]["purchase_count"], 3);

    let res = app
        .admin(Method::POST, "/api/v1/sales")
        .json(&json!({"client_id": cid, "sold_on": "2026-01-10", "amount": "10", "cost": "4", "margin": "5", "currency": "USD"}))
        .send()
        .await
        .unwrap();
    let mut f = fields(&problem(res, 422).await);
    f.sort();
    assert_eq!(f, ["currency", "margin"]);

    let list =
        json(app.admin(Method::GET, &format!("/api/v1/sales?client_id={cid}&limit=2")).send().await.unwrap()).await;
    assert_eq!(list["items"][0]["sold_on"], "2026-03-11");
    let next = list["next_cursor"].as_str().unwrap();
    let rest = json(
        app.admin(Method::GET, &format!("/api/v1/sales?client_id={cid}&limit=2&cursor={next}")).send().await.unwrap(),
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);

    // With every purchase gone the figures go back to none.
    for item in list["items"].as_array().unwrap().iter().chain(rest["items"].as_array().unwrap()) {
        let res = app.admin(Method::DELETE, &format!("/api/v1/sales/{}", item["id"])).send().await.unwrap();
        assert_eq!(res.status(), 204);
    }
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{cid}")).send().await.unwrap()).await;
    let p = &card["purchases"];
    assert_eq!((p["purchase_count"].as_i64(), p["revenue"].as_str()), (Some(0), Some("0.00")));
    assert_eq!((p["last_purchase_on"].clone(), p["margin"].as_str()), (Value::Null, Some("0.00")));
}

#[tokio::test]
async fn batches_report_each_item_and_upsert_by_external_id() {
    let app = TestApp::spawn().await;
    let c = app.client(json!({"name": "Ромашка", "external_ids": {"1c": "K-1"}})).await;
    let items = json!([
        {"external_id": "S-1", "client_external_id": "K-1", "sold_on": "2026-01-05", "amount": "100"},
        {"external_id": "S-2", "client_id": c["id"], "sold_on": "2026-01-06", "amount": "200", "cost": "150"},
        {"external_id": "S-3", "client_external_id": "K-404", "sold_on": "2026-01-07", "amount": "300"},
        {"external_id": "S-4", "client_id": c["id"], "sold_on": "2026-01-08", "amount": "lots"},
        {"external_id": "S-5", "client_id": c["id"], "sold_on": "not a date", "amount": "1"}
    ]);
    // A dry run reports the outcome and writes nothing.
    let dry = batch(&app, "?dry_run=true", json!({"source": "1c", "items": items})).await;
    assert_eq!(dry["dry_run"], true);
    assert_eq!(statuses(&dry), ["created", "created", "error", "error", "error"]);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM sales"), 0);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM events WHERE event_type = 'sale.created'"), 0);

    let first = batch(&app, "", json!({"source": "1c", "items": items})).await;
    assert_eq!(statuses(&first), ["created", "created", "error", "error", "error"]);
    assert_eq!((first["created"].as_u64(), first["errors"].as_u64()), (Some(2), Some(3)));
    assert_eq!(first["items"][2]["errors"][0]["field"], "client_external_id");
    assert_eq!(first["items"][3]["errors"][0]["field"], "amount");
    assert_eq!(first["items"][4]["errors"][0]["field"], "sold_on");
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM sales"), 2);

    // The same batch again changes nothing; a changed amount updates in place.
    let again = batch(&app, "", json!({"source": "1c", "items": items})).await;
    assert_eq!(statuses(&again)[..2], ["unchanged", "unchanged"]);
    assert_eq!(again["items"][0]["id"], first["items"][0]["id"]);
    let changed = batch(
        &app,
        "",
        json!({"source": "1c", "items": [{"external_id": "S-1", "client_external_id": "K-1", "sold_on": "2026-01-05", "amount": "110"}]}),
    )
    .await;
    assert_eq!(statuses(&changed), ["updated"]);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM sales"), 2);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM events WHERE event_type = 'sale.updated'"), 1);
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) AS n FROM events WHERE event_type = 'sale.created' AND source = '1c'"),
        2
    );
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", c["id"])).send().await.unwrap()).await;
    assert_eq!(card["purchases"]["revenue"], "310.00");

    // Duplicated keys within one batch, oversized and empty batches.
    let dup = batch(
        &app,
        "",
        json!({"source": "1c", "items": [
            {"external_id": "S-9", "client_id": c["id"], "sold_on": "2026-02-01", "amount": "1"},
            {"external_id": "S-9", "client_id": c["id"], "sold_on": "2026-02-01", "amount": "1"}
        ]}),
    )
    .await;
    assert_eq!(statuses(&dup), ["created", "error"]);
    let big: Vec<Value> =
        (0..1001).map(|_| json!({"client_id": c["id"], "sold_on": "2026-01-01", "amount": "1"})).collect();
    let res = app.admin(Method::POST, "/api/v1/sales/batch").json(&json!({"items": big})).send().await.unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["items"]);
    let res = app.admin(Method::POST, "/api/v1/sales/batch").json(&json!({"items": []})).send().await.unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["items"]);
    let res = app
        .admin(Method::POST, "/api/v1/sales/batch")
        .json(&json!({"source": "bad source!", "items": [{}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["source"]);
}

#[tokio::test]
async fn purchases_appear_in_the_timeline_and_follow_ownership() {
    let app = TestApp::spawn().await;
    let (me, token) = app.user(Role::Manager, "m@example.ru");
    let mine = app.client(json!({"name": "Мой", "owner_id": me})).await;
    let other = app.client(json!({"name": "Чужой"})).await;
    let res = app
        .req(Method::POST, "/api/v1/sales/batch", &token)
        .json(&json!({"items": [
            {"client_id": mine["id"], "sold_on": "2026-05-01", "amount": "10"},
            {"client_id": other["id"], "sold_on": "2026-05-01", "amount": "10"}
        ]}))
        .send()
        .await
        .unwrap();
    let result = json(res).await;
    assert_eq!(statuses(&result), ["created", "error"]);
    let timeline = json(
        app.admin(Method::GET, &format!("/api/v1/clients/{}/timeline?types=purchase", mine["id"]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let entry = &timeline["items"][0];
    assert_eq!(entry["type"], "purchase");
    assert_eq!(entry["sale"]["amount"], "10.00");
    assert!(entry["occurred_at"].as_str().unwrap().starts_with("2026-05-01T00:00:00"));
    let list = json(app.req(Method::GET, "/api/v1/sales", &token).send().await.unwrap()).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    problem(
        app.req(Method::DELETE, &format!("/api/v1/sales/{}", list["items"][0]["id"]), &token).send().await.unwrap(),
        403,
    )
    .await;
}

#[tokio::test]
async fn a_deleted_sales_id_is_never_given_to_another() {
    let app = TestApp::spawn().await;
    let cid = app.client(json!({"name": "Ромашка"})).await["id"].as_i64().unwrap();
    let create = |day: &'static str| {
        app.admin(Method::POST, "/api/v1/sales")
            .json(&json!({"client_id": cid, "sold_on": day, "amount": "100"}))
            .send()
    };
    let first = json(create("2026-01-10").await.unwrap()).await["id"].as_i64().unwrap();
    let newest = json(create("2026-01-11").await.unwrap()).await["id"].as_i64().unwrap();
    assert!(newest > first);
    let res = app.admin(Method::DELETE, &format!("/api/v1/sales/{newest}")).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let next = json(create("2026-01-12").await.unwrap()).await["id"].as_i64().unwrap();
    assert!(next > newest, "the deleted sale's id {newest} was handed out again as {next}");
    let res = app.admin(Method::GET, &format!("/api/v1/sales/{newest}")).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_sales_further_external_ids_are_unique_per_source() {
    let app = TestApp::spawn().await;
    let cid = app.client(json!({"name": "Ромашка"})).await["id"].as_i64().unwrap();
    let create = |shop: &'static str| {
        app.admin(Method::POST, "/api/v1/sales")
            .json(&json!({"client_id": cid, "sold_on": "2026-01-05", "amount": "10", "external_ids": {"shop": shop}}))
            .send()
    };
    let first = json(create("R-1").await.unwrap()).await;
    assert_eq!(first["external_ids"], json!({"shop": "R-1"}));
    let res = create("R-1").await.unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["external_ids.shop"]);
    assert_eq!(create("R-2").await.unwrap().status(), 201);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM sales"), 2);
}
