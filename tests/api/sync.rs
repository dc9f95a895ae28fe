use std::collections::{HashMap, HashSet};

use clientbase::auth::jwt::Subject;
use clientbase::auth::scopes::{Role, Scope, ScopeSet};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn statuses(r: &Value) -> Vec<String> {
    r["items"].as_array().unwrap().iter().map(|i| i["status"].as_str().unwrap().to_string()).collect()
}

async fn sync_clients(app: &TestApp, token: &str, query: &str, body: Value) -> Value {
    let res = app.req(Method::POST, &format!("/api/v1/sync/clients{query}"), token).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    json(res).await
}

/// A token of an ERP integration.
fn erp(app: &TestApp) -> String {
    let id = {
        let mut conn = app.conn();
        let input = clientbase::api_clients::NewApiClient {
            name: "1C".into(),
            scopes: vec![Scope::SyncWrite, Scope::ClientsRead, Scope::AnalyticsRead, Scope::DealsRead],
        };
        clientbase::api_clients::repo::create(&mut conn, &input, None).unwrap().0.client_id
    };
    app.token(
        Subject::ApiClient(id),
        ScopeSet::of(&[Scope::SyncWrite, Scope::ClientsRead, Scope::AnalyticsRead, Scope::DealsRead]),
    )
}

#[tokio::test]
async fn a_batch_upserts_by_external_id_and_reports_each_item() {
    let app = TestApp::spawn().await;
    let token = erp(&app);
    let (manager, _) = app.user(Role::Manager, "ivanov@example.ru");
    let items = json!([
        {"external_id": "K-1", "name": "ООО Ромашка", "inn": "7707083893", "channel": "retail", "phones": [{"number": "8 (4852) 12-34-56"}], "owner_email": "Ivanov@Example.ru"},
        {"external_id": "K-2", "name": "ИП Петров", "status": "active"},
        {"external_id": "K-3", "name": "Ошибка", "inn": "123"},
        {"external_id": "K-4", "inn": "7707083893"},
        {"external_id": "K-5", "name": "Канал", "channel": "nowhere"},
        {"name": "Без ключа"},
        {"external_id": "K-1", "name": "Дубль в пакете"},
        {"external_id": "K-6", "name": "Лишнее поле", "colour": "red"}
    ]);
    let dry = sync_clients(&app, &token, "?dry_run=true", json!({"source": "1c", "items": items})).await;
    assert_eq!(dry["dry_run"], true);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM clients"), 0);
    let r = sync_clients(&app, &token, "", json!({"source": "1c", "items": items})).await;
    assert_eq!(statuses(&r), statuses(&dry));
    assert_eq!(statuses(&r), ["created", "created", "error", "error", "error", "error", "error", "error"]);
    let field = |i: usize| r["items"][i]["errors"][0]["field"].as_str().unwrap().to_string();
    assert_eq!(
        (field(2), field(3), field(4), field(5), field(7)),
        ("inn".into(), "name".into(), "channel".into(), "external_id".into(), "colour".into())
    );
    assert_eq!(field(6), "external_id");
    let k1 = r["items"][0]["id"].as_i64().unwrap();
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{k1}")).send().await.unwrap()).await;
    assert_eq!(card["external_ids"]["1c"], "K-1");
    assert_eq!(card["owner_id"], manager);
    assert_eq!(card["phones"][0]["number"], "+74852123456");
    let version = card["version"].clone();
    let updated_at = card["updated_at"].clone();
    let events_before = count(&mut conn, "SELECT COUNT(*) AS n FROM events");

    // The same data again: unchanged, no new version, no events.
    let again = sync_clients(
        &app,
        &token,
        "",
        json!({"source": "1c", "items": [
            {"external_id": "K-1", "name": "ООО Ромашка", "inn": "7707083893", "phones": [{"number": "+74852123456"}]},
            {"external_id": "K-2", "name": "ИП Петров", "status": "active", "region": "Ярославль"}
        ]}),
    )
    .await;
    assert_eq!(statuses(&again), ["unchanged", "updated"]);
    assert_eq!(again["items"][0]["id"], k1);
    let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{k1}")).send().await.unwrap()).await;
    assert_eq!((card["version"].clone(), card["updated_at"].clone()), (version, updated_at));
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM events"), events_before + 1);
    // Another source's id for the same client lives beside it.
    let shop = sync_clients(
        &app,
        &token,
        "",
        json!({"source": "shop", "items": [{"external_id": "K-1", "name": "Другой клиент"}]}),
    )
    .await;
    assert_ne!(shop["items"][0]["id"], k1);
    let res = app
        .req(Method::POST, "/api/v1/sync/clients", &token)
        .json(&json!({"items": [{"external_id": "x", "name": "x"}]}))
        .send()
        .await
        .unwrap();
    problem(res, 422).await;
    // Sync needs its scope.
    let (_, manager_token) = app.user(Role::Manager, "m@example.ru");
    let res = app
        .req(Method::POST, "/api/v1/sync/clients", &manager_token)
        .json(&json!({"source": "1c", "items": [{"external_id": "x", "name": "x"}]}))
        .send()
        .await
        .unwrap();
    problem(res, 403).await;
}

#[tokio::test]
async fn sales_sync_names_clients_by_their_source_ids_and_replays_idempotently() {
    let app = TestApp::spawn().await;
    let token = erp(&app);
    sync_clients(&app, &token, "", json!({"source": "1c", "items": [{"external_id": "K-1", "name": "Ромашка"}]})).await;
    let body = json!({"source": "1c", "items": [
        {"external_id": "S-1", "client_external_id": "K-1", "sold_on": "2026-03-01", "amount": "1000", "cost": "700"},
        {"external_id": "S-2", "client_external_id": "K-9", "sold_on": "2026-03-01", "amount": "50"}
    ]});
    let send = || {
        app.req(Method::POST, "/api/v1/sync/sales", &token)
            .header("Idempotency-Key", "sales-2026-03-01")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 200);
    let first = json(first).await;
    assert_eq!(statuses(&first), ["created", "error"]);
    assert_eq!(first["items"][1]["errors"][0]["field"], "client_external_id");
    let replay = send().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(json(replay).await, first);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM sales"), 1);
    // Once the client is synced, the same sale goes in.
    sync_clients(&app, &token, "", json!({"source": "1c", "items": [{"external_id": "K-9", "name": "Новый"}]})).await;
    let res = app.req(Method::POST, "/api/v1/sync/sales", &token).json(&body).send().await.unwrap();
    assert_eq!(statuses(&json(res).await), ["unchanged", "created"]);
}

/// Reads the feed to its end from the start, as often as needed to see `expect` changes: on
/// PostgreSQL the feed holds back while older transactions (of any database) are still open.
async fn read_feed(app: &TestApp, token: &str, query: &str, expect: usize) -> (Vec<Value>, String) {
    let mut all = Vec::new();
    let mut since: Option<String> = None;
    for _ in 0..300 {
        loop {
            let url = match &since {
                Some(s) => format!("/api/v1/sync/changes?limit=7&since={s}{query}"),
                None => format!("/api/v1/sync/changes?limit=7{query}"),
            };
            let page = json(app.req(Method::GET, &url, token).send().await.unwrap()).await;
            all.extend(page["changes"].as_array().unwrap().iter().cloned());
            since = Some(page["next_cursor"].as_str().unwrap().to_string());
            if page["has_more"] == false {
                break;
            }
        }
        if all.len() >= expect {
            return (all, since.unwrap());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the feed gave {} of {expect} changes", all.len());
}

#[tokio::test]
async fn the_change_feed_names_sources_keeps_tombstones_and_skips_echoes() {
    let app = TestApp::spawn().await;
    let token = erp(&app);
    sync_clients(&app, &token, "", json!({"source": "1c", "items": [{"external_id": "K-1", "name": "Из 1С"}]})).await;
    let manual = app.client(json!({"name": "Вручную"})).await;
    app.admin(Method::DELETE, &format!("/api/v1/clients/{}", manual["id"])).send().await.unwrap();
    let (all, cursor) = read_feed(&app, &token, "", 3).await;
    let kinds: Vec<(String, String)> = all
        .iter()
        .map(|c| (c["type"].as_str().unwrap().to_string(), c["source"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("client.created".into(), "1c".into()),
            ("client.created".into(), "api".into()),
            ("client.deleted".into(), "api".into())
        ]
    );
    assert_eq!(all[2]["entity_id"], manual["id"]);
    assert_eq!(all[0]["data"]["name"], "Из 1С");
    // Without its own echoes, the 1C job sees only the changes made in the CRM.
    let (others, _) = read_feed(&app, &token, "&exclude_source=1c", 2).await;
    assert_eq!(others.len(), 2);
    // Reading on from the stored cursor gives only what is new.
    let page =
        json(app.req(Method::GET, &format!("/api/v1/sync/changes?since={cursor}"), &token).send().await.unwrap()).await;
    assert!(page["changes"].as_array().unwrap().is_empty());
    assert_eq!(page["next_cursor"], cursor);
    app.client(json!({"name": "Ещё"})).await;
    let mut new = Vec::new();
    for _ in 0..300 {
        let url = format!("/api/v1/sync/changes?since={cursor}&types=clients");
        let page = json(app.req(Method::GET, &url, &token).send().await.unwrap()).await;
        new = page["changes"].as_array().unwrap().clone();
        if !new.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["data"]["name"], "Ещё");
    problem(app.req(Method::GET, "/api/v1/sync/changes?since=garbage", &token).send().await.unwrap(), 400).await;
    problem(app.req(Method::GET, "/api/v1/sync/changes?types=gossip", &token).send().await.unwrap(), 400).await;
    let (_, manager) = app.user(Role::Manager, "m@example.ru");
    problem(app.req(Method::GET, "/api/v1/sync/changes", &manager).send().await.unwrap(), 403).await;
}

#[tokio::test]
async fn the_feed_misses_and_repeats_nothing_under_concurrent_writers() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let token = erp(&app);
    let mut writers: Vec<_> = (0..4)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..15 {
                    let c = app.client(json!({"name": format!("Писатель {w} / {i}")})).await;
                    ids.push(c["id"].as_i64().unwrap());
                }
                ids
            })
        })
        .collect();
    // Read while they write, storing the cursor as a sync job would.
    let mut seen: Vec<i64> = Vec::new();
    let mut since: Option<String> = None;
    let mut written: Option<Vec<i64>> = None;
    let started = std::time::Instant::now();
    loop {
        let url = match &since {
            Some(s) => format!("/api/v1/sync/changes?types=clients&limit=5&since={s}"),
            None => "/api/v1/sync/changes?types=clients&limit=5".to_string(),
        };
        let page = json(app.req(Method::GET, &url, &token).send().await.unwrap()).await;
        let got = page["changes"].as_array().unwrap();
        seen.extend(got.iter().map(|c| c["entity_id"].as_i64().unwrap()));
        since = Some(page["next_cursor"].as_str().unwrap().to_string());
        if written.is_none() && writers.iter().all(|w| w.is_finished()) {
            let mut all = Vec::new();
            for w in std::mem::take(&mut writers) {
                all.extend(w.await.unwrap());
            }
            written = Some(all);
        }
        // The feed holds back changes while older transactions (of any database in the
        // cluster) are open, so read on until everything written has come through.
        if written.as_ref().is_some_and(|w| seen.len() >= w.len()) && got.is_empty() {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "the feed stalled");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut written = written.unwrap();
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "a change was read twice");
    let mut a = seen.clone();
    a.sort();
    written.sort();
    assert_eq!(a, written, "a change was missed");
    let per: HashMap<i64, usize> = seen.iter().fold(HashMap::new(), |mut m, id| {
        *m.entry(*id).or_default() += 1;
        m
    });
    assert!(per.values().all(|n| *n == 1));
}

#[tokio::test]
async fn a_batch_gives_cards_only_to_active_owners() {
    let app = TestApp::spawn().await;
    let token = erp(&app);
    let (active, _) = app.user(Role::Manager, "ivanov@example.ru");
    let (by_email, _) = app.user(Role::Manager, "sidorov@example.ru");
    let (gone, _) = app.user(Role::Manager, "petrov@example.ru");
    let res = app.admin(Method::POST, &format!("/api/v1/users/{gone}/deactivate")).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let r = sync_clients(
        &app,
        &token,
        "",
        json!({"source": "1c", "items": [
            {"external_id": "O-1", "name": "По id", "owner_id": active},
            {"external_id": "O-2", "name": "По почте", "owner_email": "Sidorov@example.ru"},
            {"external_id": "O-3", "name": "Уволен", "owner_id": gone},
            {"external_id": "O-4", "name": "Уволен по почте", "owner_email": "petrov@example.ru"},
            {"external_id": "O-5", "name": "Нет такого", "owner_id": active + by_email + gone + 100}
        ]}),
    )
    .await;
    assert_eq!(statuses(&r), ["created", "created", "error", "error", "error"]);
    let field = |i: usize| r["items"][i]["errors"][0]["field"].as_str().unwrap().to_string();
    assert_eq!((field(2), field(3), field(4)), ("owner_id".into(), "owner_email".into(), "owner_id".into()));
    for (i, owner) in [(0, active), (1, by_email)] {
        let id = r["items"][i]["id"].as_i64().unwrap();
        let card = json(app.admin(Method::GET, &format!("/api/v1/clients/{id}")).send().await.unwrap()).await;
        assert_eq!(card["owner_id"], owner);
    }
}
