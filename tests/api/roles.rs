//! Counterparty roles: clients, suppliers, partners and competitors in one base; only cards
//! with the client role take part in client analytics, segments and campaigns.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{fields, json, problem, TestApp};

async fn buys(app: &TestApp, client: &Value, days: &[&str]) {
    let items: Vec<Value> = days
        .iter()
        .map(|d| json!({"client_id": client["id"], "sold_on": d, "amount": "100.00", "cost": "60.00"}))
        .collect();
    let res = app.admin(Method::POST, "/api/v1/sales/batch").json(&json!({"items": items})).send().await.unwrap();
    assert_eq!(json(res).await["errors"], 0);
}

fn ids(list: &Value) -> Vec<i64> {
    let mut v: Vec<i64> = list["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    v.sort_unstable();
    v
}

#[tokio::test]
async fn only_cards_with_the_client_role_are_clients_of_analytics_and_segments() {
    let app = TestApp::spawn().await;
    let client = app.client(json!({"name": "Покупатель", "status": "active"})).await;
    assert_eq!(client["roles"], json!(["client"]), "client by default");
    let supplier = app.client(json!({"name": "Поставщик", "status": "active", "roles": ["supplier"]})).await;
    let both =
        app.client(json!({"name": "Партнёр", "status": "active", "roles": ["partner", "client", "partner"]})).await;
    assert_eq!(both["roles"], json!(["client", "partner"]), "sorted, once each");
    let days = ["2026-01-10", "2026-02-10", "2026-03-10"];
    for card in [&client, &supplier, &both] {
        buys(&app, card, &days).await;
    }

    let app = &app;
    let list = |q: &'static str| async move {
        json(app.admin(Method::GET, &format!("/api/v1/clients?{q}")).send().await.unwrap()).await
    };
    let (c, s, b) = (client["id"].as_i64().unwrap(), supplier["id"].as_i64().unwrap(), both["id"].as_i64().unwrap());
    assert_eq!(ids(&list("role=supplier").await), vec![s]);
    assert_eq!(ids(&list("role=partner").await), vec![b]);
    assert_eq!(ids(&list("role=client").await), vec![c, b]);
    assert_eq!(ids(&list("").await), vec![c, s, b], "the list shows every card");
    assert!(ids(&list("role=competitor").await).is_empty());

    let res = app.admin(Method::GET, "/api/v1/analytics/abc-xyz?from=2026-01-01&to=2026-03-31").send().await.unwrap();
    let abc = json(res).await;
    assert_eq!(abc["clients"], 2, "{abc}");
    assert_eq!(abc["total"], "600.00");
    let res = app.admin(Method::GET, "/api/v1/analytics/reactivation?as_of=2026-09-01").send().await.unwrap();
    let silent: Vec<i64> =
        json(res).await["items"].as_array().unwrap().iter().map(|i| i["client_id"].as_i64().unwrap()).collect();
    assert!(silent.contains(&c) && silent.contains(&b) && !silent.contains(&s), "{silent:?}");

    let res = app
        .admin(Method::POST, "/api/v1/segments")
        .json(&json!({"name": "Активные", "filter": {"status": ["active"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let segment = json(res).await;
    let res = app.admin(Method::GET, &format!("/api/v1/segments/{}/clients", segment["id"])).send().await.unwrap();
    let members = json(res).await;
    let mut found: Vec<i64> = members["items"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    found.sort_unstable();
    assert_eq!(found, vec![c, b]);

    // A supplier that starts buying becomes a client too.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/clients/{s}"))
        .json(&json!({"roles": ["supplier", "client"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await["roles"], json!(["client", "supplier"]));
    let res = app.admin(Method::GET, "/api/v1/analytics/abc-xyz?from=2026-01-01&to=2026-03-31").send().await.unwrap();
    assert_eq!(json(res).await["clients"], 3);

    // The export carries the roles.
    let res = app.admin(Method::GET, "/api/v1/clients/export?role=partner").send().await.unwrap();
    let text = res.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].ends_with(",roles"), "{}", lines[0]);
    assert_eq!(lines.len(), 2);
    assert!(lines[1].ends_with("\"client,partner\""), "{}", lines[1]);
}

#[tokio::test]
async fn roles_are_validated_and_imported() {
    let app = TestApp::spawn().await;
    let res = app.admin(Method::POST, "/api/v1/clients").json(&json!({"name": "X", "roles": []})).send().await.unwrap();
    assert_eq!(fields(&problem(res, 422).await), vec!["roles"]);
    let res = app
        .admin(Method::POST, "/api/v1/clients")
        .json(&json!({"name": "X", "roles": ["friend"]}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 422).await;
    assert!(fields(&p)[0].starts_with("roles"), "{p}");
    let res = app.admin(Method::GET, "/api/v1/clients?role=friend").send().await.unwrap();
    assert_eq!(problem(res, 400).await["status"], 400);

    let csv = "Наименование;Тип контрагента\nМеталлобаза;Поставщик\nДилер;Клиент, Партнёр\nСоседи;Конкурент\nНепонятно;Друг\n";
    let res =
        app.admin(Method::POST, "/api/v1/imports").header("content-type", "text/csv").body(csv).send().await.unwrap();
    let upload = json(res).await;
    assert_eq!(upload["mapping"]["Тип контрагента"], "roles");
    let id = upload["id"].as_i64().unwrap();
    let res = app.admin(Method::POST, &format!("/api/v1/imports/{id}/preview")).send().await.unwrap();
    let preview = json(res).await;
    assert_eq!(preview["totals"]["create"], 3);
    assert_eq!(preview["rows"][3]["errors"][0]["field"], "roles");
    assert_eq!(app.admin(Method::POST, &format!("/api/v1/imports/{id}/run")).send().await.unwrap().status(), 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let state = json(app.admin(Method::GET, &format!("/api/v1/imports/{id}")).send().await.unwrap()).await;
        if state["state"] == "done" || std::time::Instant::now() > deadline {
            assert_eq!(state["created"], 3, "{state}");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let res = app.admin(Method::GET, "/api/v1/clients?q=Дилер").send().await.unwrap();
    assert_eq!(json(res).await["items"][0]["roles"], json!(["client", "partner"]));
    let res = app.admin(Method::GET, "/api/v1/clients?role=competitor").send().await.unwrap();
    assert_eq!(json(res).await["items"][0]["name"], "Соседи");
}
