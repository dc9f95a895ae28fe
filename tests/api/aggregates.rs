//! The aggregates kept beside the data: each client's monthly sales sums stay equal to the raw
//! sales through every kind of write, and `clientbase rebuild-aggregates` restores them.

use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::clientbase;
use crate::helpers::*;

/// Client-month rows that differ between the kept sums and a GROUP BY over the sales, both ways.
fn drift(app: &TestApp) -> i64 {
    let raw = "SELECT client_id, sold_month AS month, SUM(amount) AS revenue, COALESCE(SUM(margin), 0) AS margin, \
               COUNT(*) AS purchases FROM sales GROUP BY client_id, sold_month";
    let kept = "SELECT client_id, month, revenue, margin, purchases FROM client_months";
    let mut conn = app.conn();
    count(&mut conn, &format!("SELECT COUNT(*) AS n FROM ({kept} EXCEPT {raw}) d"))
        + count(&mut conn, &format!("SELECT COUNT(*) AS n FROM ({raw} EXCEPT {kept}) d"))
}

fn kept_rows(app: &TestApp) -> i64 {
    count(&mut app.conn(), "SELECT COUNT(*) AS n FROM client_months")
}

async fn sale(app: &TestApp, body: Value) -> Value {
    let res = app.admin(Method::POST, "/api/v1/sales").json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    json(res).await
}

#[tokio::test]
async fn monthly_sums_follow_every_write_of_the_sales() {
    let app = TestApp::spawn().await;
    let a = app.client(json!({"name": "Ромашка", "channel": "retail"})).await["id"].as_i64().unwrap();
    let b = app.client(json!({"name": "Василёк", "channel": "wholesale"})).await["id"].as_i64().unwrap();

    let one = sale(&app, json!({"client_id": a, "sold_on": "2026-01-10", "amount": "1000", "cost": "600"})).await;
    sale(&app, json!({"client_id": a, "sold_on": "2026-01-20", "amount": "500"})).await;
    assert_eq!((kept_rows(&app), drift(&app)), (1, 0), "two sales of one month are one row");

    let items = |shift: u32| -> Vec<Value> {
        (0..30)
            .map(|i| {
                let month = (i + shift) % 6 + 1;
                json!({"client_id": if i % 2 == 0 { a } else { b }, "sold_on": format!("2026-{month:02}-05"),
                       "amount": format!("{}", 100 + i), "margin": "10", "external_id": format!("B-{i}")})
            })
            .collect()
    };
    let send = |items: Vec<Value>| {
        app.admin(Method::POST, "/api/v1/sales/batch").json(&json!({"source": "erp", "items": items})).send()
    };
    assert_eq!(send(items(1)).await.unwrap().status(), 200);
    assert_eq!(drift(&app), 0, "after a batch");
    // The same sales again, each a month later: the batch updates them in place.
    let res = json(send(items(0)).await.unwrap()).await;
    assert_eq!(res["updated"], 30, "{res}");
    assert_eq!(drift(&app), 0, "after a batch of updates");
    let before = kept_rows(&app);
    assert!(before >= 6, "{before}");

    // A sale moved to another month and another amount, then deleted.
    let path = format!("/api/v1/sales/{}", one["id"]);
    let res = app.admin(Method::PATCH, &path).json(&json!({"sold_on": "2025-12-31", "amount": "700"})).send().await;
    assert_eq!(res.unwrap().status(), 200);
    assert_eq!(drift(&app), 0, "after an update across months");
    assert_eq!(kept_rows(&app), before + 1, "December got a row, January kept its other sale");
    assert_eq!(app.admin(Method::DELETE, &path).send().await.unwrap().status(), 204);
    assert_eq!((kept_rows(&app), drift(&app)), (before, 0), "after a delete");

    // The duplicate's sales move to the survivor: its months go with them.
    let res = app.admin(Method::POST, &format!("/api/v1/clients/{a}/merge")).json(&json!({"duplicate_id": b})).send();
    assert_eq!(res.await.unwrap().status(), 200);
    assert_eq!(drift(&app), 0, "after a merge");
    let of_b = count(&mut app.conn(), &format!("SELECT COUNT(*) AS n FROM client_months WHERE client_id = {b}"));
    assert_eq!(of_b, 0);

    // The purged card's sales stay, anonymous, and so do their sums.
    assert_eq!(app.admin(Method::DELETE, &format!("/api/v1/clients/{a}")).send().await.unwrap().status(), 204);
    assert_eq!(app.admin(Method::DELETE, &format!("/api/v1/clients/{a}/purge")).send().await.unwrap().status(), 204);
    assert_eq!((kept_rows(&app), drift(&app)), (6, 0), "after a purge");
}

#[tokio::test]
async fn reports_over_partial_and_whole_months_match_the_sales() {
    let app = TestApp::spawn().await;
    let a = app.client(json!({"name": "Ромашка", "channel": "retail"})).await["id"].as_i64().unwrap();
    let b = app.client(json!({"name": "Василёк", "channel": "retail"})).await["id"].as_i64().unwrap();
    for (client, day, amount) in [
        (a, "2026-01-14", "100"),
        (a, "2026-01-15", "200"),
        (a, "2026-02-01", "400"),
        (b, "2026-02-28", "800"),
        (b, "2026-03-10", "1600"),
        (b, "2026-03-11", "3200"),
    ] {
        sale(&app, json!({"client_id": client, "sold_on": day, "amount": amount, "margin": "1"})).await;
    }
    // Mid-January to the 10th of March: a partial month at each end around a whole February.
    let path = "/api/v1/analytics/summary?from=2026-01-15&to=2026-03-10";
    let summary = json(app.admin(Method::GET, path).send().await.unwrap()).await;
    assert_eq!((summary["revenue"].as_str(), summary["purchases"].as_i64()), (Some("3000.00"), Some(4)), "{summary}");
    assert_eq!(summary["margin"], "4.00");
    let path = "/api/v1/analytics/abc-xyz?from=2026-01-15&to=2026-03-10";
    let report = json(app.admin(Method::GET, path).send().await.unwrap()).await;
    let value = |id: i64| {
        let items = report["items"].as_array().unwrap();
        let item = items.iter().find(|i| i["client_id"] == id).unwrap();
        (item["value"].as_str().unwrap().to_string(), item["purchases"].as_i64(), item["months_with_sales"].as_i64())
    };
    assert_eq!(value(a), ("600.00".to_string(), Some(2), Some(2)));
    assert_eq!(value(b), ("2400.00".to_string(), Some(2), Some(2)));
    // Inside one month only the days count.
    let path = "/api/v1/analytics/summary?from=2026-03-11&to=2026-03-31";
    let summary = json(app.admin(Method::GET, path).send().await.unwrap()).await;
    assert_eq!(summary["revenue"], "3200.00", "{summary}");
}

#[tokio::test]
async fn rebuild_aggregates_restores_the_sums_from_the_sales() {
    let app = TestApp::spawn().await;
    let a = app.client(json!({"name": "Ромашка"})).await["id"].as_i64().unwrap();
    for day in ["2026-01-10", "2026-02-10", "2026-03-10"] {
        sale(&app, json!({"client_id": a, "sold_on": day, "amount": "100"})).await;
    }
    {
        let mut conn = app.conn();
        use diesel::RunQueryDsl;
        diesel::sql_query("UPDATE client_months SET revenue = revenue + 1").execute(&mut *conn).unwrap();
        diesel::sql_query("DELETE FROM client_months WHERE month = (SELECT MIN(month) FROM client_months)")
            .execute(&mut *conn)
            .unwrap();
    }
    assert!(drift(&app) > 0);
    let dir = std::env::temp_dir().join(format!("clientbase-rebuild-{}", uuid::Uuid::new_v4().simple()));
    let out = clientbase()
        .env("DATABASE_URL", &app.state.config.database_url)
        .env("CLIENTBASE_DATA_DIR", &dir)
        .arg("rebuild-aggregates")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("rebuilt 3 client-month sums"), "{stdout}");
    assert_eq!((kept_rows(&app), drift(&app)), (3, 0));
    let _ = std::fs::remove_dir_all(dir);
}
