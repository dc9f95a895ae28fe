use clientbase::auth::jwt::Subject;
use clientbase::auth::scopes::{Role, Scope, ScopeSet};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn pbx(app: &TestApp) -> String {
    let id = {
        let mut conn = app.conn();
        let input = clientbase::api_clients::NewApiClient { name: "PBX".into(), scopes: vec![Scope::TelephonyWrite] };
        clientbase::api_clients::repo::create(&mut conn, &input, None).unwrap().0.client_id
    };
    app.token(Subject::ApiClient(id), ScopeSet::of(&[Scope::TelephonyWrite]))
}

async fn call(app: &TestApp, token: &str, body: Value) -> Value {
    let res = app.req(Method::POST, "/api/v1/telephony/calls", token).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    json(res).await
}

#[tokio::test]
async fn the_screen_pop_finds_the_number_in_any_format() {
    let app = TestApp::spawn().await;
    let token = pbx(&app);
    let (manager, manager_token) = app.user(Role::Manager, "m@example.ru");
    let client =
        app.client(json!({"name": "Ромашка", "owner_id": manager, "phones": [{"number": "+7 (4852) 12-34-56"}]})).await;
    let person = json(
        app.admin(Method::POST, &format!("/api/v1/clients/{}/contacts", client["id"]))
            .json(&json!({"name": "Мария", "position": "закупщик", "phones": [{"number": "8 916 111-22-33"}]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let deal = json(
        app.admin(Method::POST, "/api/v1/deals")
            .json(&json!({"client_id": client["id"], "title": "Весна", "owner_id": manager}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    for phone in ["8 (4852) 12-34-56", "+74852123456", "74852123456", "4852123456"] {
        let res = app
            .req(Method::GET, &format!("/api/v1/telephony/lookup?phone={}", urlencode(phone)), &token)
            .send()
            .await
            .unwrap();
        let found = json(res).await;
        assert_eq!(found["phone"], "+74852123456", "{phone}");
        assert_eq!(found["matches"][0]["client"]["id"], client["id"], "{phone}");
        assert_eq!(found["matches"][0]["owner"]["email"], "m@example.ru");
        assert_eq!(found["matches"][0]["open_deals"][0]["id"], deal["id"]);
    }
    let found =
        json(app.req(Method::GET, "/api/v1/telephony/lookup?phone=89161112233", &token).send().await.unwrap()).await;
    assert_eq!(found["matches"][0]["contact"]["id"], person["id"]);
    let nobody =
        json(app.req(Method::GET, "/api/v1/telephony/lookup?phone=84950000000", &token).send().await.unwrap()).await;
    assert!(nobody["matches"].as_array().unwrap().is_empty());
    problem(app.req(Method::GET, "/api/v1/telephony/lookup?phone=12", &token).send().await.unwrap(), 400).await;
    // A manager may look numbers up too, among their own clients only.
    let (_, other) = app.user(Role::Manager, "other@example.ru");
    let mine =
        json(app.req(Method::GET, "/api/v1/telephony/lookup?phone=84852123456", &manager_token).send().await.unwrap())
            .await;
    assert_eq!(mine["matches"].as_array().unwrap().len(), 1);
    let theirs =
        json(app.req(Method::GET, "/api/v1/telephony/lookup?phone=84852123456", &other).send().await.unwrap()).await;
    assert!(theirs["matches"].as_array().unwrap().is_empty());
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn one_call_is_one_activity_however_many_events() {
    let app = TestApp::spawn().await;
    let token = pbx(&app);
    let (manager, _) = app.user(Role::Manager, "m@example.ru");
    app.admin(Method::PATCH, &format!("/api/v1/users/{manager}"))
        .json(&json!({"phone_extension": "101"}))
        .send()
        .await
        .unwrap();
    let client = app.client(json!({"name": "Ромашка", "phones": [{"number": "+74852123456"}]})).await;
    let base = json!({"call_id": "c-77", "direction": "inbound", "from": "8 (4852) 12-34-56", "to": "101"});
    let mut ringing = base.clone();
    ringing["status"] = json!("ringing");
    ringing["started_at"] = json!("2026-11-20T10:00:00Z");
    let first = call(&app, &token, ringing).await;
    assert_eq!(first["client_id"], client["id"]);
    assert_eq!(first["created_client"], false);
    let mut answered = base.clone();
    answered["status"] = json!("answered");
    answered["answered_at"] = json!("2026-11-20T10:00:05Z");
    answered["extension"] = json!("101");
    let second = call(&app, &token, answered).await;
    let mut ended = base.clone();
    ended["status"] = json!("ended");
    ended["answered_at"] = json!("2026-11-20T10:00:05Z");
    ended["ended_at"] = json!("2026-11-20T10:04:05Z");
    ended["recording_url"] = json!("https://pbx.example.ru/rec/c-77.mp3");
    let third = call(&app, &token, ended).await;
    assert_eq!(first["activity_id"], second["activity_id"]);
    assert_eq!(first["activity_id"], third["activity_id"]);
    let page =
        json(app.admin(Method::GET, &format!("/api/v1/activities?client_id={}", client["id"])).send().await.unwrap())
            .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let a = &items[0];
    assert_eq!((a["type"].as_str(), a["direction"].as_str()), (Some("call"), Some("inbound")));
    assert_eq!(a["duration_seconds"], 240);
    assert_eq!(a["outcome"], "answered");
    assert_eq!(a["recording_url"], "https://pbx.example.ru/rec/c-77.mp3");
    assert_eq!(a["external_ref"], "call:c-77");
    assert_eq!(a["occurred_at"], "2026-11-20T10:00:00Z");
    // A late event of a call whose activity was deleted is acknowledged and brings nothing back.
    let res = app.admin(Method::DELETE, &format!("/api/v1/activities/{}", a["id"])).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let mut late = base.clone();
    late["status"] = json!("ended");
    late["ended_at"] = json!("2026-11-20T10:05:00Z");
    let fourth = call(&app, &token, late).await;
    assert_eq!(fourth["activity_id"], first["activity_id"]);
    let page =
        json(app.admin(Method::GET, &format!("/api/v1/activities?client_id={}", client["id"])).send().await.unwrap())
            .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    let res = app
        .req(Method::POST, "/api/v1/telephony/calls", &token)
        .json(&json!({"call_id": "x", "direction": "inbound", "from": "abc", "to": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["from"]);
    // So is one of a call whose client was deleted since: the card stays deleted.
    let mut other = base.clone();
    other["call_id"] = json!("c-78");
    let logged = call(&app, &token, other.clone()).await;
    assert_eq!(logged["client_id"], client["id"]);
    let res = app.admin(Method::DELETE, &format!("/api/v1/clients/{}", client["id"])).send().await.unwrap();
    assert_eq!(res.status(), 204);
    other["status"] = json!("ended");
    let late = call(&app, &token, other).await;
    assert_eq!((&late["activity_id"], late["created_client"].as_bool()), (&logged["activity_id"], Some(false)));
    let res = app.admin(Method::GET, &format!("/api/v1/clients/{}", client["id"])).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn an_unknown_caller_becomes_a_potential_client_with_a_call_back() {
    let app = TestApp::spawn().await;
    let token = pbx(&app);
    let (busy, _) = app.user(Role::Manager, "busy@example.ru");
    let (free, _) = app.user(Role::Manager, "free@example.ru");
    let c = app.client(json!({"name": "X"})).await;
    app.admin(Method::POST, "/api/v1/tasks")
        .json(&json!({"title": "Перезвонить", "type": "call_back", "due_at": "2026-12-01T10:00:00Z", "assignee_id": busy, "client_id": c["id"]}))
        .send()
        .await
        .unwrap();
    // Nobody took the call: the least busy manager gets the new client.
    let r = call(
        &app,
        &token,
        json!({"call_id": "c-1", "direction": "inbound", "from": "+7 495 123-45-67", "to": "main", "status": "missed"}),
    )
    .await;
    assert_eq!(r["created_client"], true);
    let client =
        json(app.admin(Method::GET, &format!("/api/v1/clients/{}", r["client_id"])).send().await.unwrap()).await;
    assert_eq!(client["status"], "potential");
    assert_eq!(client["source"], "inbound_call");
    assert_eq!(client["owner_id"], free);
    assert_eq!(client["phones"][0]["number"], "+74951234567");
    let task = json(app.admin(Method::GET, &format!("/api/v1/tasks/{}", r["task_id"])).send().await.unwrap()).await;
    assert_eq!((task["type"].as_str(), task["assignee_id"].as_i64()), (Some("call_back"), Some(free)));
    let a =
        json(app.admin(Method::GET, &format!("/api/v1/activities/{}", r["activity_id"])).send().await.unwrap()).await;
    assert_eq!(a["outcome"], "missed");
    // They call again: the same client, no second one.
    let again =
        call(&app, &token, json!({"call_id": "c-2", "direction": "inbound", "from": "84951234567", "to": "main"}))
            .await;
    assert_eq!((again["client_id"].clone(), again["created_client"].clone()), (r["client_id"].clone(), json!(false)));
    // The user who answers owns the new caller.
    let r = call(&app, &token, json!({"call_id": "c-3", "direction": "inbound", "from": "+74957654321", "to": "main", "user_id": busy, "status": "answered"})).await;
    let client =
        json(app.admin(Method::GET, &format!("/api/v1/clients/{}", r["client_id"])).send().await.unwrap()).await;
    assert_eq!(client["owner_id"], busy);
    let (_, manager) = app.user(Role::Manager, "m@example.ru");
    let res = app
        .req(Method::POST, "/api/v1/telephony/calls", &manager)
        .json(&json!({"call_id": "x", "direction": "inbound", "from": "+74957654321", "to": "1"}))
        .send()
        .await
        .unwrap();
    problem(res, 403).await;
}
