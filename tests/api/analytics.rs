//! The analytics against a hand-computed dataset (see the comments for the arithmetic).

use std::collections::HashMap;

use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

struct Base {
    ids: HashMap<&'static str, i64>,
}

impl Base {
    fn id(&self, name: &str) -> i64 {
        self.ids[name]
    }
}

async fn sales(app: &TestApp, client: i64, rows: &[(&str, &str, &str)]) {
    let items: Vec<Value> = rows
        .iter()
        .map(|(day, amount, cost)| json!({"client_id": client, "sold_on": day, "amount": amount, "cost": cost}))
        .collect();
    let res = app.admin(Method::POST, "/api/v1/sales/batch").json(&json!({"items": items})).send().await.unwrap();
    let body = json(res).await;
    assert_eq!(body["errors"], 0, "{body}");
}

/// Period January–April 2026 (four months). Revenue: Alpha 400, Gamma 400, Beta 150, Delta 50
/// (total 1000). Margin: Gamma 200, Alpha 160, Beta 15, Delta −30.
async fn dataset(app: &TestApp) -> Base {
    let mut ids = HashMap::new();
    ids.insert("alpha", app.client(json!({"name": "Альфа", "status": "active", "channel": "retail", "estimated_potential": "1000", "phones": [{"number": "+74852000001"}], "emails": [{"address": "a@a.ru"}]})).await["id"].as_i64().unwrap());
    ids.insert("beta", app.client(json!({"name": "Бета", "status": "active", "channel": "retail", "estimated_potential": "5000", "emails": [{"address": "b@b.ru"}]})).await["id"].as_i64().unwrap());
    ids.insert(
        "gamma",
        app.client(json!({"name": "Гамма", "status": "active", "channel": "retail"})).await["id"].as_i64().unwrap(),
    );
    ids.insert(
        "delta",
        app.client(json!({"name": "Дельта", "status": "active", "channel": "wholesale"})).await["id"].as_i64().unwrap(),
    );
    ids.insert(
        "epsilon",
        app.client(json!({"name": "Эпсилон", "status": "active", "channel": "retail", "estimated_potential": "500"}))
            .await["id"]
            .as_i64()
            .unwrap(),
    );
    ids.insert(
        "zeta",
        app.client(json!({"name": "Дзета", "status": "active", "channel": "retail"})).await["id"].as_i64().unwrap(),
    );
    ids.insert("lost_big", app.client(json!({"name": "Должник", "status": "lost", "lost_reason": "долг", "channel": "retail", "estimated_potential": "100"})).await["id"].as_i64().unwrap());
    ids.insert("lost_small", app.client(json!({"name": "Ушедший", "status": "lost", "lost_reason": "делистинг", "channel": "retail", "estimated_potential": "9000"})).await["id"].as_i64().unwrap());
    ids.insert(
        "gone",
        app.client(json!({"name": "Удалённый", "status": "active", "channel": "retail"})).await["id"].as_i64().unwrap(),
    );
    let b = Base { ids };
    // Alpha: 75, 125, 75, 125 — mean 100, σ 25, CV exactly 25% → Y. Cost 60%.
    sales(
        app,
        b.id("alpha"),
        &[
            ("2026-01-15", "75", "45"),
            ("2026-02-15", "125", "75"),
            ("2026-03-15", "75", "45"),
            ("2026-04-15", "125", "75"),
        ],
    )
    .await;
    // Gamma: 90, 110, 90, 110 — CV exactly 10% → X. Cost 50%.
    sales(
        app,
        b.id("gamma"),
        &[
            ("2026-01-10", "90", "45"),
            ("2026-02-10", "110", "55"),
            ("2026-03-10", "90", "45"),
            ("2026-04-10", "110", "55"),
        ],
    )
    .await;
    // Beta: 150 in January only → Z.
    sales(app, b.id("beta"), &[("2026-01-20", "150", "135")]).await;
    // Delta: 50 in March, sold at a loss.
    sales(app, b.id("delta"), &[("2026-03-05", "50", "80")]).await;
    // Epsilon: December 2025 only (outside the period), every 30 days.
    sales(app, b.id("epsilon"), &[("2025-12-01", "100", "50"), ("2025-12-31", "100", "50")]).await;
    // Zeta: buys in June, every 28 days: not due for reactivation on June 30.
    sales(app, b.id("zeta"), &[("2026-06-01", "10", "5"), ("2026-06-29", "10", "5")]).await;
    sales(app, b.id("lost_big"), &[("2025-03-01", "2000", "1500")]).await;
    sales(app, b.id("lost_small"), &[("2025-03-01", "300", "200")]).await;
    sales(app, b.id("gone"), &[("2026-02-01", "100000", "1")]).await;
    app.admin(Method::DELETE, &format!("/api/v1/clients/{}", b.id("gone"))).send().await.unwrap();
    b
}

const PERIOD: &str = "from=2026-01-01&to=2026-04-30";

fn by_client(items: &Value) -> HashMap<i64, Value> {
    items.as_array().unwrap().iter().map(|i| (i["client_id"].as_i64().unwrap(), i.clone())).collect()
}

#[tokio::test]
async fn abc_xyz_matches_the_hand_computation() {
    let app = TestApp::spawn().await;
    let b = dataset(&app).await;
    let r = json(app.admin(Method::GET, &format!("/api/v1/analytics/abc-xyz?{PERIOD}")).send().await.unwrap()).await;
    assert_eq!(r["months"], 4);
    assert_eq!(r["clients"], 4);
    assert_eq!(r["total"], "1000.00");
    assert_eq!(r["thresholds"]["a"], 80.0);
    let items = by_client(&r["items"]);
    // Ranking: Alpha 400 (tie with Gamma, lower id first) 40% → A; Gamma 80% → A (boundary
    // included); Beta 95% → B (boundary included); Delta 100% → C.
    let class = |name: &str| {
        let i = &items[&b.id(name)];
        format!("{}{}", i["abc"].as_str().unwrap(), i["xyz"].as_str().unwrap())
    };
    assert_eq!(class("alpha"), "AY");
    assert_eq!(class("gamma"), "AX");
    assert_eq!(class("beta"), "BZ");
    assert_eq!(class("delta"), "CZ");
    assert_eq!(items[&b.id("alpha")]["rank"], 1);
    assert_eq!(items[&b.id("gamma")]["cumulative_share"], 0.8);
    assert!((items[&b.id("alpha")]["cv"].as_f64().unwrap() - 0.25).abs() < 1e-12);
    assert!((items[&b.id("gamma")]["cv"].as_f64().unwrap() - 0.10).abs() < 1e-12);
    // Beta: 150, 0, 0, 0 → mean 37.5, σ = 64.95 → CV √3.
    assert!((items[&b.id("beta")]["cv"].as_f64().unwrap() - 3f64.sqrt()).abs() < 1e-9);
    assert_eq!(items[&b.id("delta")]["insufficient_history"], true);
    assert_eq!(items[&b.id("alpha")]["insufficient_history"], false);
    let cell = |name: &str| r["matrix"].as_array().unwrap().iter().find(|c| c["cell"] == name).unwrap().clone();
    assert_eq!((cell("AX")["clients"].as_u64(), cell("AX")["value"].as_str()), (Some(1), Some("400.00")));
    assert_eq!(cell("BZ")["value"], "150.00");
    assert_eq!(cell("CX")["clients"], 0);

    // By margin: Gamma 200, Alpha 160, Beta 15 of 375 positive → 53% A, 96% C, 100% C; Delta −30 → C, Z.
    let r = json(
        app.admin(Method::GET, &format!("/api/v1/analytics/abc-xyz?{PERIOD}&measure=margin")).send().await.unwrap(),
    )
    .await;
    let items = by_client(&r["items"]);
    assert_eq!(r["total"], "375.00");
    assert_eq!(items[&b.id("gamma")]["abc"], "A");
    assert_eq!(items[&b.id("alpha")]["abc"], "C");
    assert_eq!((items[&b.id("delta")]["abc"].as_str(), items[&b.id("delta")]["xyz"].as_str()), (Some("C"), Some("Z")));

    // The VIP cell can be listed on its own, and paging loses nothing.
    let r = json(app.admin(Method::GET, &format!("/api/v1/analytics/abc-xyz?{PERIOD}&cell=AX")).send().await.unwrap())
        .await;
    assert_eq!(r["items"].as_array().unwrap().len(), 1);
    let first =
        json(app.admin(Method::GET, &format!("/api/v1/analytics/abc-xyz?{PERIOD}&limit=3")).send().await.unwrap())
            .await;
    let next = first["next_cursor"].as_str().unwrap();
    let rest = json(
        app.admin(Method::GET, &format!("/api/v1/analytics/abc-xyz?{PERIOD}&limit=3&cursor={next}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rest["items"][0]["client_id"], b.id("delta"));
    // Thresholds are parameters.
    let r =
        json(app.admin(Method::GET, &format!("/api/v1/analytics/abc-xyz?{PERIOD}&a=40&b=80")).send().await.unwrap())
            .await;
    let items = by_client(&r["items"]);
    assert_eq!((items[&b.id("alpha")]["abc"].as_str(), items[&b.id("gamma")]["abc"].as_str()), (Some("A"), Some("B")));
    for bad in ["a=90&b=80", "x=-1", "cell=QQ", "measure=profit", "from=2026-05-01&to=2026-01-01"] {
        problem(app.admin(Method::GET, &format!("/api/v1/analytics/abc-xyz?{bad}")).send().await.unwrap(), 400).await;
    }
    // An empty period is an empty matrix, not an error.
    let r =
        json(app.admin(Method::GET, "/api/v1/analytics/abc-xyz?from=2020-01-01&to=2020-12-31").send().await.unwrap())
            .await;
    assert_eq!((r["clients"].as_u64(), r["total"].as_str()), (Some(0), Some("0.00")));
}

#[tokio::test]
async fn abcde_pareto_and_managers_scope() {
    let app = TestApp::spawn().await;
    let b = dataset(&app).await;
    let r = json(app.admin(Method::GET, &format!("/api/v1/analytics/abcde?{PERIOD}")).send().await.unwrap()).await;
    let items = by_client(&r["items"]);
    // Retail, non-negative profit: Gamma 200, Alpha 160, Beta 15, Epsilon 0, Zeta 0 (n = 5:
    // maximal = top 1, high = top 3). Potential: Beta 5000, Alpha 1000, Epsilon 500, then 0s.
    // Gamma: profit #1, potential #4 → B. Alpha: #2, #2 → B. Beta: #3 → B.
    // Epsilon: profit #4, potential #3 (high) → C. Zeta: #5, #5 → D. Delta (−30) → E.
    let class = |name: &str| items[&b.id(name)]["class"].as_str().unwrap().to_string();
    assert_eq!(class("gamma"), "B");
    assert_eq!(class("alpha"), "B");
    assert_eq!(class("beta"), "B");
    assert_eq!(class("epsilon"), "C");
    assert_eq!(class("zeta"), "D");
    assert_eq!(class("delta"), "E");
    assert_eq!(r["cutoffs"]["max_share"], 20.0);
    // With "maximal" at the top 40%, Alpha is maximal on both and becomes A.
    let r =
        json(app.admin(Method::GET, &format!("/api/v1/analytics/abcde?{PERIOD}&max_share=40")).send().await.unwrap())
            .await;
    assert_eq!(by_client(&r["items"])[&b.id("alpha")]["class"], "A");
    let r =
        json(app.admin(Method::GET, &format!("/api/v1/analytics/abcde?{PERIOD}&class=E")).send().await.unwrap()).await;
    assert_eq!(r["items"].as_array().unwrap().len(), 1);

    // Pareto: 400, 400, 150, 50 — the top 20% (one client) bring 40%.
    let r = json(
        app.admin(Method::GET, &format!("/api/v1/analytics/pareto?{PERIOD}&points=4&by=channel")).send().await.unwrap(),
    )
    .await;
    assert_eq!(r["overall"]["clients"], 4);
    assert_eq!(r["overall"]["top_clients"], 1);
    assert_eq!(r["overall"]["top_revenue_share"], 0.4);
    let curve: Vec<f64> =
        r["overall"]["lorenz"].as_array().unwrap().iter().map(|p| p["revenue_share"].as_f64().unwrap()).collect();
    assert_eq!(curve, [0.0, 0.05, 0.2, 0.6, 1.0]);
    let retail = r["channels"].as_array().unwrap().iter().find(|c| c["channel"] == "retail").unwrap();
    assert_eq!(retail["clients"], 3);

    // A manager sees only their own clients, and cannot ask for someone else's.
    let (me, token) = app.user(Role::Manager, "m@example.ru");
    app.admin(Method::PATCH, &format!("/api/v1/clients/{}", b.id("beta")))
        .json(&json!({"owner_id": me}))
        .send()
        .await
        .unwrap();
    let r =
        json(app.req(Method::GET, &format!("/api/v1/analytics/abc-xyz?{PERIOD}"), &token).send().await.unwrap()).await;
    assert_eq!(r["clients"], 1);
    assert_eq!(r["items"][0]["client_id"], b.id("beta"));
    assert_eq!(r["items"][0]["abc"], "C", "alone, Beta is 100% of the manager's revenue");
    let res = app
        .req(Method::GET, &format!("/api/v1/analytics/pareto?owner_id={}", app.admin_id), &token)
        .send()
        .await
        .unwrap();
    problem(res, 400).await;
}

#[tokio::test]
async fn reactivation_lists_and_plans_the_silent_clients() {
    let app = TestApp::spawn().await;
    let b = dataset(&app).await;
    let url = "/api/v1/analytics/reactivation?as_of=2026-06-30";
    let r = json(app.admin(Method::GET, url).send().await.unwrap()).await;
    // Intervals: Alpha 30 (Jan 15 → Apr 15 over four days), Gamma 30, Epsilon 30, Zeta 28;
    // median 30 for Beta and Delta (one purchase day each). Revenue at risk = average purchase
    // × 365 / interval: Beta 1825.00, Alpha = Gamma = Epsilon 1216.67, Delta 608.33.
    assert_eq!(r["median_interval_days"], 30.0);
    let order: Vec<(i64, String)> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["client_id"].as_i64().unwrap(), c["revenue_at_risk"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        (b.id("beta"), "1825.00"),
        (b.id("alpha"), "1216.67"),
        (b.id("gamma"), "1216.67"),
        (b.id("epsilon"), "1216.67"),
        (b.id("delta"), "608.33"),
    ];
    assert_eq!(order, expected.map(|(id, v)| (id, v.to_string())));
    assert_eq!(r["items"][0]["median_interval_used"], true);
    assert_eq!(r["items"][1]["days_since_last_purchase"], 76);
    let from_cards = r["items"].clone();
    // With factor 3, Alpha (76 days, 90 allowed) is no longer due.
    let r = json(app.admin(Method::GET, &format!("{url}&factor=3")).send().await.unwrap()).await;
    assert!(!r["items"].as_array().unwrap().iter().any(|c| c["client_id"] == b.id("alpha")));
    // As of March 20, purchases after it do not exist yet.
    let r = json(app.admin(Method::GET, "/api/v1/analytics/reactivation?as_of=2026-03-20").send().await.unwrap()).await;
    assert!(!r["items"].as_array().unwrap().iter().any(|c| c["client_id"] == b.id("alpha")));
    // A purchase dated after `as_of` (of a client who is not active) makes the report recount
    // from the sales instead of the cards' figures: the answer is the same.
    sales(&app, b.id("lost_big"), &[("2026-07-15", "10", "5")]).await;
    let recounted = json(app.admin(Method::GET, url).send().await.unwrap()).await;
    assert_eq!(recounted["items"], from_cards);

    let res = app.admin(Method::POST, url).send().await.unwrap();
    let created = json(res).await;
    assert_eq!((created["created"].as_u64(), created["already_open"].as_u64()), (Some(5), Some(0)));
    let again = json(app.admin(Method::POST, url).send().await.unwrap()).await;
    assert_eq!((again["created"].as_u64(), again["already_open"].as_u64()), (Some(0), Some(5)));
    let tasks = json(app.admin(Method::GET, "/api/v1/tasks?type=reactivation&assignee=me").send().await.unwrap()).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 5);
    problem(app.admin(Method::GET, &format!("{url}&factor=0")).send().await.unwrap(), 400).await;
}

#[tokio::test]
async fn lost_clients_census_and_summary() {
    let app = TestApp::spawn().await;
    let b = dataset(&app).await;
    app.admin(Method::POST, "/api/v1/activities")
        .json(&json!({"type": "call", "client_id": b.id("lost_big"), "occurred_at": "2026-02-01T10:00:00Z"}))
        .send()
        .await
        .unwrap();
    let r = json(app.admin(Method::GET, "/api/v1/analytics/lost-clients").send().await.unwrap()).await;
    assert_eq!(r["whole_history"], true);
    let items = r["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!((items[0]["client_id"].as_i64(), items[0]["margin"].as_str()), (Some(b.id("lost_big")), Some("500.00")));
    assert_eq!(items[0]["lost_reason"], "долг");
    assert!(items[0]["last_contact_at"].as_str().unwrap().starts_with("2026-02-01T10:00:00"));
    assert_eq!(items[1]["last_contact_at"], Value::Null);
    let r = json(app.admin(Method::GET, "/api/v1/analytics/lost-clients?sort=potential&limit=1").send().await.unwrap())
        .await;
    assert_eq!(r["items"][0]["client_id"], b.id("lost_small"));
    let next = r["next_cursor"].as_str().unwrap();
    let r = json(
        app.admin(Method::GET, &format!("/api/v1/analytics/lost-clients?sort=potential&limit=1&cursor={next}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r["items"][0]["client_id"], b.id("lost_big"));
    assert_eq!(r["next_cursor"], Value::Null);
    // Counting only 2026, they brought nothing.
    let r = json(app.admin(Method::GET, "/api/v1/analytics/lost-clients?from=2026-01-01").send().await.unwrap()).await;
    assert_eq!(r["items"][0]["margin"], "0.00");

    // Census: eight live clients, all companies; one has a phone, two have emails; none has
    // an INN or a decision maker; all have an owner and a channel, none a region.
    let contact = json!({"name": "Директор", "is_decision_maker": true});
    app.admin(Method::POST, &format!("/api/v1/clients/{}/contacts", b.id("alpha")))
        .json(&contact)
        .send()
        .await
        .unwrap();
    let r = json(app.admin(Method::GET, "/api/v1/analytics/completeness?limit=3").send().await.unwrap()).await;
    let gap =
        |field: &str| r["overall"]["fields"].as_array().unwrap().iter().find(|f| f["field"] == field).unwrap().clone();
    assert_eq!(r["overall"]["clients"], 8);
    assert_eq!(gap("phone")["missing"], 7);
    assert_eq!(gap("email")["missing"], 6);
    assert_eq!(gap("email")["share"], 0.75);
    assert_eq!(gap("owner")["missing"], 0);
    assert_eq!(gap("region")["missing"], 8);
    assert_eq!(gap("inn")["missing"], 8);
    assert_eq!(gap("decision_maker")["missing"], 7);
    assert_eq!(r["by_owner"][0]["owner_id"], app.admin_id);
    let worst = r["worst"].as_array().unwrap();
    assert_eq!(worst.len(), 3);
    assert_eq!(worst[0]["missing"].as_array().unwrap().len(), 6);
    assert!(worst.iter().all(|w| w["client_id"] != b.id("alpha")));
    let next = r["next_cursor"].as_str().unwrap();
    let rest = json(
        app.admin(Method::GET, &format!("/api/v1/analytics/completeness?limit=10&cursor={next}")).send().await.unwrap(),
    )
    .await;
    assert_eq!(rest["worst"].as_array().unwrap().len(), 5);

    // Summary over the period that contains today.
    app.admin(Method::PATCH, &format!("/api/v1/clients/{}", b.id("zeta")))
        .json(&json!({"status": "lost", "lost_reason": "ушёл к конкуренту"}))
        .send()
        .await
        .unwrap();
    let r = json(app.admin(Method::GET, "/api/v1/analytics/summary").send().await.unwrap()).await;
    assert_eq!(r["statuses"]["active"], 5);
    assert_eq!(r["statuses"]["lost"], 3);
    assert_eq!(r["new_clients"], 8);
    let moved = r["movement"].as_array().unwrap().iter().find(|m| m["from"] == "active" && m["to"] == "lost").unwrap();
    assert_eq!(moved["clients"], 1);
    // Summary over January–April 2026: revenue 1000, margin 345 (Delta's −30 included); the
    // one call was with a lost client.
    let r = json(app.admin(Method::GET, &format!("/api/v1/analytics/summary?{PERIOD}")).send().await.unwrap()).await;
    assert_eq!(
        (r["revenue"].as_str(), r["margin"].as_str(), r["purchases"].as_u64()),
        (Some("1000.00"), Some("345.00"), Some(10))
    );
    let lost = r["cadence"].as_array().unwrap().iter().find(|c| c["status"] == "lost").unwrap();
    assert_eq!(lost["contacts"], 1);
    // 1 contact / 3 clients / (120 days / 365).
    assert!((lost["contacts_per_client_per_year"].as_f64().unwrap() - 365.0 / 360.0).abs() < 1e-9);
}

#[tokio::test]
async fn the_funnel_converts_per_owner() {
    let app = TestApp::spawn().await;
    let pipelines = json(app.admin(Method::GET, "/api/v1/pipelines").send().await.unwrap()).await;
    let stages: Vec<i64> =
        pipelines[0]["stages"].as_array().unwrap().iter().map(|s| s["id"].as_i64().unwrap()).collect();
    let (m1, t1) = app.user(Role::Manager, "m1@example.ru");
    let (m2, t2) = app.user(Role::Manager, "m2@example.ru");
    let c1 = app.client(json!({"name": "К1", "owner_id": m1, "channel": "retail"})).await;
    let c2 = app.client(json!({"name": "К2", "owner_id": m2, "channel": "wholesale"})).await;
    let deal = |token: &String, client: &Value| {
        app.req(Method::POST, "/api/v1/deals", token)
            .json(&json!({"client_id": client["id"], "title": "Сделка"}))
            .send()
    };
    let mv = |token: &String, deal: &Value, stage: i64| {
        app.req(Method::POST, &format!("/api/v1/deals/{}/stage", deal["id"]), token)
            .json(&json!({"stage_id": stage}))
            .send()
    };
    // Manager 1: three deals; two reach Meeting, one of them Interested.
    let d1 = json(deal(&t1, &c1).await.unwrap()).await;
    let d2 = json(deal(&t1, &c1).await.unwrap()).await;
    json(deal(&t1, &c1).await.unwrap()).await;
    mv(&t1, &d1, stages[1]).await.unwrap();
    mv(&t1, &d1, stages[2]).await.unwrap();
    mv(&t1, &d2, stages[1]).await.unwrap();
    // Manager 2: one deal won straight away.
    let d4 = json(deal(&t2, &c2).await.unwrap()).await;
    mv(&t2, &d4, stages[6]).await.unwrap();

    let r = json(app.admin(Method::GET, "/api/v1/analytics/funnel?group_by=owner").send().await.unwrap()).await;
    let group = |owner: i64| {
        r["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"].as_str() == Some(owner.to_string().as_str()))
            .unwrap()
            .clone()
    };
    let g1 = group(m1);
    let entered: Vec<i64> = g1["stages"].as_array().unwrap().iter().map(|s| s["entered"].as_i64().unwrap()).collect();
    assert_eq!(entered, [3, 2, 1, 0, 0, 0, 0, 0]);
    assert!((g1["stages"][0]["conversion_to_next"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(g1["stages"][1]["conversion_to_next"], 0.5);
    assert_eq!(g1["stages"][7]["conversion_to_next"], Value::Null);
    assert!(g1["stages"][0]["average_seconds_in_stage"].as_f64().unwrap() >= 0.0);
    assert_eq!(g1["stages"][2]["average_seconds_in_stage"], Value::Null, "d1 is still in Interested");
    let g2 = group(m2);
    assert_eq!(g2["win_rate"], 1.0);
    assert_eq!(g1["win_rate"], 0.0);
    let r = json(
        app.admin(Method::GET, "/api/v1/analytics/funnel?group_by=channel&channel=wholesale").send().await.unwrap(),
    )
    .await;
    assert_eq!(r["groups"].as_array().unwrap().len(), 1);
    assert_eq!(r["groups"][0]["key"], "wholesale");
    let r = json(app.admin(Method::GET, "/api/v1/analytics/funnel").send().await.unwrap()).await;
    assert_eq!(r["groups"][0]["stages"][0]["entered"], 4);
    // Manager 2 sees only their own funnel.
    let r = json(app.req(Method::GET, "/api/v1/analytics/funnel?group_by=owner", &t2).send().await.unwrap()).await;
    assert_eq!(r["groups"].as_array().unwrap().len(), 1);
    problem(app.admin(Method::GET, "/api/v1/analytics/funnel?pipeline_id=999").send().await.unwrap(), 400).await;
}

async fn members(app: &TestApp, id: &Value) -> Vec<i64> {
    let page = json(app.admin(Method::GET, &format!("/api/v1/segments/{id}/clients")).send().await.unwrap()).await;
    page["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn segments_evaluate_live() {
    let app = TestApp::spawn().await;
    let b = dataset(&app).await;
    app.admin(Method::PATCH, &format!("/api/v1/clients/{}", b.id("alpha")))
        .json(&json!({"mailing_consent": true, "tags": ["vip"]}))
        .send()
        .await
        .unwrap();
    let res = app
        .admin(Method::POST, "/api/v1/segments")
        .json(&json!({"name": "VIP 2", "filter": {"top_by_revenue": 2, "status": ["active"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let vip = json(res).await;
    let mut expected = vec![b.id("alpha"), b.id("gamma")];
    expected.sort();
    assert_eq!(members(&app, &vip["id"]).await, expected);
    let count =
        json(app.admin(Method::GET, &format!("/api/v1/segments/{}/count", vip["id"])).send().await.unwrap()).await;
    assert_eq!(count["clients"], 2);

    let res = app
        .admin(Method::POST, "/api/v1/segments")
        .json(&json!({"name": "Рассылка", "filter": {"has_email": true, "mailing_consent": true, "tags": ["VIP"]}}))
        .send()
        .await
        .unwrap();
    let mailing = json(res).await;
    assert_eq!(members(&app, &mailing["id"]).await, [b.id("alpha")]);
    // Live: a change to a card changes the segment.
    app.admin(Method::PATCH, &format!("/api/v1/clients/{}", b.id("beta")))
        .json(&json!({"mailing_consent": true, "tags": ["vip"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(members(&app, &mailing["id"]).await.len(), 2);

    let res = app
        .admin(Method::POST, "/api/v1/segments")
        .json(&json!({"name": "Класс A", "filter": {"abc": ["A"], "channel": ["retail"]}}))
        .send()
        .await
        .unwrap();
    let class_a = json(res).await;
    let got = members(&app, &class_a["id"]).await;
    assert!(got.contains(&b.id("alpha")) && got.contains(&b.id("gamma")) && !got.contains(&b.id("beta")));

    let res = app
        .admin(Method::POST, "/api/v1/segments")
        .json(&json!({"name": "", "filter": {"abc": ["Q"]}}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 422).await;
    assert_eq!(fields(&p), ["filter.abc[0]"]);
    let res = app
        .admin(Method::POST, "/api/v1/segments")
        .json(&json!({"name": "", "filter": {"channel": ["nowhere"], "revenue_min": "10", "revenue_max": "5", "top_by_revenue": 0, "status": []}}))
        .send()
        .await
        .unwrap();
    let mut f = fields(&problem(res, 422).await);
    f.sort();
    assert_eq!(f, ["filter.channel[0]", "filter.revenue_min", "filter.status", "filter.top_by_revenue", "name"]);
    let (_, manager) = app.user(Role::Manager, "m@example.ru");
    let res = app
        .req(Method::POST, "/api/v1/segments", &manager)
        .json(&json!({"name": "x", "filter": {}}))
        .send()
        .await
        .unwrap();
    problem(res, 403).await;
    // A manager evaluating a segment sees only their own clients in it.
    let page =
        json(app.req(Method::GET, &format!("/api/v1/segments/{}/clients", vip["id"]), &manager).send().await.unwrap())
            .await;
    assert!(page["items"].as_array().unwrap().is_empty());
    assert_eq!(
        app.admin(Method::DELETE, &format!("/api/v1/segments/{}", vip["id"])).send().await.unwrap().status(),
        204
    );
}
