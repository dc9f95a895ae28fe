//! Protecting the base: duplicates and merge, reassignment, audited export, purge, the audit log.

use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let page = json(app.admin(Method::GET, &format!("/api/v1/audit-log?{query}")).send().await.unwrap()).await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn duplicates_are_found_by_phone_email_inn_and_name() {
    let app = TestApp::spawn().await;
    let a = app.client(json!({"name": "ООО «Ромашка»", "region": "Ярославль", "phones": [{"number": "+74852123456"}], "inn": "7707083893"})).await;
    let b = app
        .client(json!({"name": "Ромашка ООО", "region": "Ярославль", "phones": [{"number": "8 4852 12-34-56"}]}))
        .await;
    let c = app.client(json!({"name": "Другая", "inn": "7707083893", "emails": [{"address": "Zakaz@Shop.ru"}]})).await;
    let d = app.client(json!({"name": "Третья", "emails": [{"address": "zakaz@shop.ru"}]})).await;
    app.client(json!({"name": "Ромашка", "region": "Москва"})).await;
    let page = json(app.admin(Method::GET, "/api/v1/clients/duplicates").send().await.unwrap()).await;
    let groups: Vec<(String, String, Vec<i64>)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let ids = g["clients"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
            (g["reason"].as_str().unwrap().to_string(), g["key"].as_str().unwrap().to_string(), ids)
        })
        .collect();
    let id = |v: &Value| v["id"].as_i64().unwrap();
    assert!(groups.contains(&("phone".into(), "+74852123456".into(), vec![id(&a), id(&b)])), "{groups:?}");
    assert!(groups.contains(&("email".into(), "zakaz@shop.ru".into(), vec![id(&c), id(&d)])), "{groups:?}");
    assert!(groups.contains(&("inn".into(), "7707083893".into(), vec![id(&a), id(&c)])), "{groups:?}");
    assert!(groups.contains(&("name".into(), "Ярославль|ромашка".into(), vec![id(&a), id(&b)])), "{groups:?}");
    assert_eq!(groups.len(), 4, "Ромашка in Москва is another region");
    let first = json(app.admin(Method::GET, "/api/v1/clients/duplicates?limit=3").send().await.unwrap()).await;
    let next = first["next_cursor"].as_str().unwrap();
    let rest = json(
        app.admin(Method::GET, &format!("/api/v1/clients/duplicates?limit=3&cursor={next}")).send().await.unwrap(),
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn merge_moves_everything_and_leaves_a_tombstone() {
    let app = TestApp::spawn().await;
    let survivor = app.client(json!({"name": "Ромашка", "phones": [{"number": "+74852123456"}], "tags": ["vip"], "external_ids": {"1c": "K-1"}})).await;
    let dup = app
        .client(json!({"name": "Ромашка (дубль)", "inn": "7707083893", "region": "Ярославль", "emails": [{"address": "info@romashka.ru"}],
                       "tags": ["опт"], "external_ids": {"1c": "K-2", "shop": "S-9"}}))
        .await;
    let (s, d) = (survivor["id"].as_i64().unwrap(), dup["id"].as_i64().unwrap());
    app.admin(Method::POST, &format!("/api/v1/clients/{d}/contacts"))
        .json(&json!({"name": "Мария"}))
        .send()
        .await
        .unwrap();
    app.admin(Method::POST, "/api/v1/activities").json(&json!({"type": "call", "client_id": d})).send().await.unwrap();
    let deal = json(
        app.admin(Method::POST, "/api/v1/deals")
            .json(&json!({"client_id": d, "title": "Сделка"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    app.admin(Method::POST, "/api/v1/sales")
        .json(&json!({"client_id": d, "sold_on": "2026-01-05", "amount": "500"}))
        .send()
        .await
        .unwrap();
    app.admin(Method::POST, "/api/v1/tasks")
        .json(&json!({"title": "t", "type": "other", "due_at": "2026-12-01T10:00:00Z", "client_id": d}))
        .send()
        .await
        .unwrap();

    let (_, manager) = app.user(Role::Manager, "m@example.ru");
    let res = app
        .req(Method::POST, &format!("/api/v1/clients/{s}/merge"), &manager)
        .json(&json!({"duplicate_id": d}))
        .send()
        .await
        .unwrap();
    problem(res, 403).await;
    let res = app
        .admin(Method::POST, &format!("/api/v1/clients/{s}/merge"))
        .json(&json!({"duplicate_id": d}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let merged = json(res).await;
    assert_eq!(merged["inn"], "7707083893");
    assert_eq!(merged["region"], "Ярославль");
    assert_eq!(merged["emails"][0]["address"], "info@romashka.ru");
    assert_eq!(merged["tags"], json!(["vip", "опт"]));
    assert_eq!(merged["external_ids"], json!({"1c": "K-1", "shop": "S-9"}));
    assert_eq!(merged["purchases"]["revenue"], "500.00");

    let contacts = json(app.admin(Method::GET, &format!("/api/v1/clients/{s}/contacts")).send().await.unwrap()).await;
    assert_eq!(contacts["items"].as_array().unwrap().len(), 1);
    let deal = json(app.admin(Method::GET, &format!("/api/v1/deals/{}", deal["id"])).send().await.unwrap()).await;
    assert_eq!(deal["client_id"], s);
    let timeline = json(app.admin(Method::GET, &format!("/api/v1/clients/{s}/timeline")).send().await.unwrap()).await;
    let kinds: Vec<&str> = timeline["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"activity") && kinds.contains(&"purchase") && kinds.contains(&"deal_created"), "{kinds:?}");
    let tasks = json(app.admin(Method::GET, &format!("/api/v1/tasks?client_id={s}")).send().await.unwrap()).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 1);

    // The duplicate's id now points at the survivor.
    let gone = problem(app.admin(Method::GET, &format!("/api/v1/clients/{d}")).send().await.unwrap(), 410).await;
    assert_eq!(gone["merged_into"], s);
    let mut conn = app.conn();
    assert_eq!(
        count(
            &mut conn,
            &format!("SELECT COUNT(*) AS n FROM events WHERE event_type = 'client.merged' AND entity_id = {d}")
        ),
        1
    );
    assert_eq!(audit(&app, "action=clients.merge").await.len(), 2, "the refused attempt and the merge");
    let res = app
        .admin(Method::POST, &format!("/api/v1/clients/{s}/merge"))
        .json(&json!({"duplicate_id": s}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["duplicate_id"]);
}

#[tokio::test]
async fn reassignment_moves_clients_open_deals_and_tasks() {
    let app = TestApp::spawn().await;
    let (leaving, leaving_token) = app.user(Role::Manager, "leaving@example.ru");
    let (heir, _) = app.user(Role::Manager, "heir@example.ru");
    let retail = app.client(json!({"name": "Розница", "owner_id": leaving, "channel": "retail"})).await;
    let wholesale = app.client(json!({"name": "Опт", "owner_id": leaving, "channel": "wholesale"})).await;
    for c in [&retail, &wholesale] {
        app.req(Method::POST, "/api/v1/deals", &leaving_token)
            .json(&json!({"client_id": c["id"], "title": "Сделка"}))
            .send()
            .await
            .unwrap();
        app.req(Method::POST, "/api/v1/tasks", &leaving_token)
            .json(&json!({"title": "Звонок", "type": "call_back", "due_at": "2026-12-01T10:00:00Z", "client_id": c["id"]}))
            .send()
            .await
            .unwrap();
    }
    let res = app
        .admin(Method::POST, "/api/v1/clients/reassign")
        .json(&json!({"from_user_id": leaving, "to_user_id": heir, "filter": {"channel": "retail"}}))
        .send()
        .await
        .unwrap();
    let moved = json(res).await;
    assert_eq!(
        (moved["clients"].as_u64(), moved["deals"].as_u64(), moved["tasks"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    let r = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", retail["id"])).send().await.unwrap()).await;
    assert_eq!(r["owner_id"], heir);
    let w = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", wholesale["id"])).send().await.unwrap()).await;
    assert_eq!(w["owner_id"], leaving);
    problem(
        app.req(Method::POST, "/api/v1/clients/reassign", &leaving_token)
            .json(&json!({"from_user_id": leaving, "to_user_id": heir}))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;

    // Deactivating with reassign_to hands over the rest in the same step.
    let res = app
        .admin(Method::POST, &format!("/api/v1/users/{leaving}/deactivate"))
        .json(&json!({"reassign_to": heir}))
        .send()
        .await
        .unwrap();
    let out = json(res).await;
    assert_eq!(out["user"]["active"], false);
    assert_eq!((out["reassigned"]["clients"].as_u64(), out["reassigned"]["deals"].as_u64()), (Some(1), Some(1)));
    let w = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", wholesale["id"])).send().await.unwrap()).await;
    assert_eq!(w["owner_id"], heir);
    let tasks = json(app.admin(Method::GET, &format!("/api/v1/tasks?assignee={heir}")).send().await.unwrap()).await;
    assert_eq!(tasks["items"].as_array().unwrap().len(), 2);
    // The history stays: the activities and deal moves keep their authors.
    let mut conn = app.conn();
    assert_eq!(
        count(&mut conn, &format!("SELECT COUNT(*) AS n FROM deal_stage_history WHERE changed_by = 'user:{leaving}'")),
        2
    );
    let entries = audit(&app, "action=clients.reassign").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["details"]["clients"], 1);
    assert_eq!(audit(&app, "action=users.deactivate").await.len(), 1);
}

#[tokio::test]
async fn export_streams_excel_friendly_csv_and_is_audited() {
    let app = TestApp::spawn().await;
    app.client(
        json!({"name": "ООО «Ромашка»", "status": "active", "phones": [{"number": "+74852123456"}], "tags": ["vip"]}),
    )
    .await;
    app.client(json!({"name": "=HYPERLINK(\"http://evil\")", "status": "active", "notes": "x"})).await;
    // Enough rows for several chunks of the stream.
    let items: Vec<Value> = (0..1500)
        .map(|i| json!({"external_id": format!("E-{i}"), "name": format!("Клиент {i}"), "status": "potential"}))
        .collect();
    let token =
        app.token(clientbase::auth::jwt::Subject::User(app.admin_id), clientbase::auth::scopes::ScopeSet::all());
    let res = app
        .req(Method::POST, "/api/v1/sync/clients", &token)
        .json(&json!({"source": "1c", "items": items[..1000]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .req(Method::POST, "/api/v1/sync/clients", &token)
        .json(&json!({"source": "1c", "items": items[1000..]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let res = app
        .admin(Method::GET, "/api/v1/clients/export?format=csv&delimiter=semicolon&status=active")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(res.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "UTF-8 BOM for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("id;kind;name;"));
    assert_eq!(lines.len(), 3);
    assert!(text.contains("ООО «Ромашка»"));
    assert!(text.contains("'=HYPERLINK"), "formula neutralised: {text}");
    assert!(text.contains("'+74852123456"));

    let res = app.admin(Method::GET, "/api/v1/clients/export?format=ndjson").send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/x-ndjson");
    let body = res.text().await.unwrap();
    let rows: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 1502, "every client, across several chunks");
    let mut ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 1502);

    let entries = audit(&app, "action=clients.export.completed").await;
    let rows_logged: Vec<i64> = entries.iter().map(|e| e["details"]["rows"].as_i64().unwrap()).collect();
    assert!(rows_logged.contains(&2) && rows_logged.contains(&1502), "{rows_logged:?}");
    let started = audit(&app, "action=clients.export").await;
    assert_eq!(started.len(), 2);
    assert_eq!(started[0]["actor"], format!("user:{}", app.admin_id));
    assert_eq!(started[0]["address"], "127.0.0.1");
    assert!(started[1]["details"]["query"].as_str().unwrap().contains("delimiter=semicolon"));
    problem(app.admin(Method::GET, "/api/v1/clients/export?format=xls").send().await.unwrap(), 400).await;
}

#[tokio::test]
async fn refused_exports_and_deletions_are_on_record() {
    let app = TestApp::spawn().await;
    let (me, token) = app.user(Role::Manager, "m@example.ru");
    let mine = app.client(json!({"name": "Мой", "owner_id": me})).await;
    problem(app.req(Method::GET, "/api/v1/clients/export", &token).send().await.unwrap(), 403).await;
    problem(app.req(Method::DELETE, &format!("/api/v1/clients/{}", mine["id"]), &token).send().await.unwrap(), 403)
        .await;
    problem(
        app.req(Method::DELETE, &format!("/api/v1/clients/{}/purge", mine["id"]), &token).send().await.unwrap(),
        403,
    )
    .await;
    let (_, sup) = app.user(Role::Supervisor, "s@example.ru");
    problem(app.req(Method::DELETE, &format!("/api/v1/clients/{}/purge", mine["id"]), &sup).send().await.unwrap(), 403)
        .await;
    let denied: Vec<Value> = audit(&app, "").await.into_iter().filter(|e| e["outcome"] == "denied").collect();
    let actions: Vec<(&str, &str)> =
        denied.iter().map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap())).collect();
    let manager = format!("user:{me}");
    assert!(actions.contains(&("clients.export", manager.as_str())), "{actions:?}");
    assert!(actions.contains(&("clients.delete", manager.as_str())));
    assert!(actions.contains(&("clients.purge", manager.as_str())));
    assert_eq!(denied.iter().filter(|e| e["action"] == "clients.purge").count(), 2);
    assert_eq!(denied[0]["details"]["missing_scope"], "clients:purge");
    // The log answers only to audit:read, and nobody can rewrite it.
    assert_eq!(app.req(Method::GET, "/api/v1/audit-log", &sup).send().await.unwrap().status(), 200);
    problem(app.req(Method::GET, "/api/v1/audit-log", &token).send().await.unwrap(), 403).await;
    let mut conn = app.conn();
    assert!(
        diesel::RunQueryDsl::execute(diesel::sql_query("UPDATE audit_log SET actor = 'nobody'"), &mut *conn).is_err()
    );
    assert!(diesel::RunQueryDsl::execute(diesel::sql_query("DELETE FROM audit_log"), &mut *conn).is_err());
    assert!(count(&mut conn, "SELECT COUNT(*) AS n FROM audit_log WHERE outcome = 'denied'") >= 4);
}

#[tokio::test]
async fn purge_leaves_no_personal_data() {
    let app = TestApp::spawn().await;
    let receiver = crate::receiver::Receiver::start().await;
    app.admin(Method::POST, "/api/v1/webhooks")
        .json(&json!({"name": "listener", "url": receiver.url}))
        .send()
        .await
        .unwrap();
    let c = app
        .client(json!({"name": "Иванов Пётр Сергеевич", "kind": "person", "inn": "500100732259", "phones": [{"number": "+79161234567"}],
                       "emails": [{"address": "petr.ivanov@mail.ru"}], "addresses": [{"line": "ул. Сиреневая, 7"}], "notes": "любит рыбалку",
                       "external_ids": {"shop": "U-77"}}))
        .await;
    let id = c["id"].as_i64().unwrap();
    app.admin(Method::POST, &format!("/api/v1/clients/{id}/contacts"))
        .json(&json!({"name": "Иванова Анна", "phones": [{"number": "+79169998877"}]}))
        .send()
        .await
        .unwrap();
    app.admin(Method::POST, "/api/v1/activities")
        .json(&json!({"type": "call", "client_id": id, "subject": "Звонок Петру", "body": "обсуждали рыбалку"}))
        .send()
        .await
        .unwrap();
    let sale = app
        .admin(Method::POST, "/api/v1/sales")
        .json(&json!({"client_id": id, "sold_on": "2026-01-05", "amount": "500"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sale.status(), 201);
    receiver.wait_for(4, 5).await;

    problem(app.admin(Method::DELETE, &format!("/api/v1/clients/{id}/purge")).send().await.unwrap(), 409).await;
    app.admin(Method::DELETE, &format!("/api/v1/clients/{id}")).send().await.unwrap();
    assert_eq!(app.admin(Method::DELETE, &format!("/api/v1/clients/{id}/purge")).send().await.unwrap().status(), 204);

    let mut conn = app.conn();
    for needle in
        ["Иванов", "Пётр", "500100732259", "79161234567", "petr.ivanov", "Сиреневая", "рыбалк", "79169998877", "U-77"]
    {
        for (table, column) in [
            (
                "clients",
                "name || COALESCE(inn, '') || phones || emails || addresses || COALESCE(notes, '') || search_text",
            ),
            ("contacts", "name || phones"),
            ("contact_points", "value"),
            ("external_ids", "external_id"),
            ("activities", "COALESCE(subject, '') || COALESCE(body, '')"),
            ("events", "payload"),
            ("webhook_deliveries", "payload"),
        ] {
            let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {column} LIKE '%{needle}%'");
            assert_eq!(count(&mut conn, &sql), 0, "{needle} left in {table}");
        }
    }
    // The anonymous tombstone keeps the sales figures and ids consistent.
    assert_eq!(count(&mut conn, &format!("SELECT COUNT(*) AS n FROM sales WHERE client_id = {id}")), 1);
    assert_eq!(count(&mut conn, &format!("SELECT COUNT(*) AS n FROM clients WHERE id = {id}")), 1);
    assert_eq!(audit(&app, "action=clients.purge").await.len(), 1);
    assert_eq!(
        count(
            &mut conn,
            &format!("SELECT COUNT(*) AS n FROM events WHERE event_type = 'client.purged' AND entity_id = {id}")
        ),
        1
    );
}

#[tokio::test]
async fn export_as_a_real_excel_workbook_with_typed_cells() {
    use calamine::{Data, Reader, Xlsx};
    let app = TestApp::spawn().await;
    let first = app
        .client(json!({"name": "ООО «Ромашка»", "status": "active", "estimated_potential": "1250000.50",
                       "tags": ["vip"], "mailing_consent": true}))
        .await;
    app.client(json!({"name": "=HYPERLINK(\"http://evil\")", "status": "potential"})).await;
    let sale = json!({"client_id": first["id"], "sold_on": "2026-03-15", "amount": "1999.99"});
    assert_eq!(app.admin(Method::POST, "/api/v1/sales").json(&sale).send().await.unwrap().status(), 201);
    // Enough rows for several chunks of the export.
    let items: Vec<Value> =
        (0..1200).map(|i| json!({"external_id": format!("E-{i}"), "name": format!("Клиент {i}"), "status": "lost", "lost_reason": "x"})).collect();
    for batch in items.chunks(1000) {
        let body = json!({"source": "1c", "items": batch});
        let res = app.admin(Method::POST, "/api/v1/sync/clients").json(&body).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }

    let res = app.admin(Method::GET, "/api/v1/clients/export?format=xlsx").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    assert!(res.headers()["content-disposition"].to_str().unwrap().ends_with(".xlsx\""));
    let bytes = res.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    assert_eq!(sheet.height(), 1 + 2 + 1200, "a header and every client");
    assert_eq!(sheet.get((0, 0)), Some(&Data::String("id".into())));
    assert_eq!(sheet.get((0, 2)), Some(&Data::String("name".into())));
    assert_eq!(sheet.get((1, 0)), Some(&Data::Float(first["id"].as_f64().unwrap())), "ids are numbers");
    assert_eq!(sheet.get((1, 2)), Some(&Data::String("ООО «Ромашка»".into())));
    assert_eq!(sheet.get((1, 15)), Some(&Data::Bool(true)));
    assert_eq!(sheet.get((1, 16)), Some(&Data::Float(1_250_000.5)), "money is a number");
    assert_eq!(sheet.get((1, 17)), Some(&Data::Float(1999.99)));
    match sheet.get((1, 18)) {
        Some(Data::DateTime(d)) => assert_eq!(d.as_datetime().unwrap().date().to_string(), "2026-03-15"),
        other => panic!("the last purchase is a date: {other:?}"),
    }
    assert!(matches!(sheet.get((1, 20)), Some(Data::DateTime(_))), "created_at is a date and time");
    // A string is a string in a workbook: nothing to neutralise, nothing runs.
    assert_eq!(sheet.get((2, 2)), Some(&Data::String("=HYPERLINK(\"http://evil\")".into())));
    let exports = count(
        &mut app.conn(),
        "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'clients.export.completed' AND details LIKE '%xlsx%'",
    );
    assert_eq!(exports, 1, "audited like the other formats");
}
