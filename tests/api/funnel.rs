use std::collections::HashSet;

use chrono::{Duration, Utc};
use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

async fn default_pipeline(app: &TestApp) -> Value {
    let list = json(app.admin(Method::GET, "/api/v1/pipelines").send().await.unwrap()).await;
    list.as_array().unwrap().iter().find(|p| p["is_default"] == true).cloned().expect("a default pipeline")
}

fn stage_id(pipeline: &Value, name: &str) -> i64 {
    pipeline["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["id"].as_i64().unwrap()
}

#[tokio::test]
async fn the_default_pipeline_is_the_articles_funnel() {
    let app = TestApp::spawn().await;
    let p = default_pipeline(&app).await;
    let stages: Vec<(String, String)> = p["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["kind"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        ("First call", "open"),
        ("Meeting", "open"),
        ("Interested", "open"),
        ("Proposal sent", "open"),
        ("Invoice issued", "open"),
        ("Contract signed", "open"),
        ("Paid", "won"),
        ("Lost", "lost"),
    ];
    assert_eq!(stages, expected.map(|(a, b)| (a.to_string(), b.to_string())));
}

#[tokio::test]
async fn pipelines_keep_their_stage_rules() {
    let app = TestApp::spawn().await;
    let res = app
        .admin(Method::POST, "/api/v1/pipelines")
        .json(&json!({"name": "Опт", "stages": [{"name": "Заявка", "kind": "open"}, {"name": "Оплачено", "kind": "won"}]}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 422).await;
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("lost"));

    let res = app
        .admin(Method::POST, "/api/v1/pipelines")
        .json(&json!({"name": "Опт", "stages": [
            {"name": "Заявка", "kind": "open"},
            {"name": "Оплачено", "kind": "won"},
            {"name": "Отказ", "kind": "lost"}
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let p = json(res).await;
    let id = p["id"].as_i64().unwrap();
    assert_eq!(p["stages"][1]["probability"], 100);
    let won = stage_id(&p, "Оплачено");
    let lost = stage_id(&p, "Отказ");

    // A new open stage goes after the last open one.
    let res = app
        .admin(Method::POST, &format!("/api/v1/pipelines/{id}/stages"))
        .json(&json!({"name": "КП", "kind": "open", "probability": 40}))
        .send()
        .await
        .unwrap();
    let p = json(res).await;
    let names: Vec<&str> = p["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Заявка", "КП", "Оплачено", "Отказ"]);
    let kp = stage_id(&p, "КП");
    let first = stage_id(&p, "Заявка");

    let res = app
        .admin(Method::POST, &format!("/api/v1/pipelines/{id}/stages/reorder"))
        .json(&json!({"stage_ids": [kp, first, won, lost]}))
        .send()
        .await
        .unwrap();
    let p = json(res).await;
    assert_eq!(p["stages"][0]["name"], "КП");
    let res = app
        .admin(Method::POST, &format!("/api/v1/pipelines/{id}/stages/reorder"))
        .json(&json!({"stage_ids": [kp, first]}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["stage_ids"]);

    // The only won stage can be neither archived nor deleted.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/pipelines/{id}/stages/{won}"))
        .json(&json!({"archived": true}))
        .send()
        .await
        .unwrap();
    problem(res, 409).await;
    problem(app.admin(Method::DELETE, &format!("/api/v1/pipelines/{id}/stages/{won}")).send().await.unwrap(), 409)
        .await;

    // A used stage is archived, not deleted; an unused one can go.
    let client = app.client(json!({"name": "Ромашка"})).await;
    let res = app
        .admin(Method::POST, "/api/v1/deals")
        .json(&json!({"client_id": client["id"], "title": "Опт", "pipeline_id": id, "stage_id": kp}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    problem(app.admin(Method::DELETE, &format!("/api/v1/pipelines/{id}/stages/{kp}")).send().await.unwrap(), 409).await;
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/pipelines/{id}/stages/{kp}"))
        .json(&json!({"kind": "won"}))
        .send()
        .await
        .unwrap();
    problem(res, 409).await;
    let res = app.admin(Method::DELETE, &format!("/api/v1/pipelines/{id}/stages/{first}")).send().await.unwrap();
    assert_eq!(json(res).await["stages"].as_array().unwrap().len(), 3);
    // KP is the last open stage now: it stays active until another one exists.
    let archive = json!({"archived": true, "name": "Коммерческое предложение"});
    let res =
        app.admin(Method::PATCH, &format!("/api/v1/pipelines/{id}/stages/{kp}")).json(&archive).send().await.unwrap();
    problem(res, 409).await;
    app.admin(Method::POST, &format!("/api/v1/pipelines/{id}/stages"))
        .json(&json!({"name": "Переговоры", "kind": "open"}))
        .send()
        .await
        .unwrap();
    let res =
        app.admin(Method::PATCH, &format!("/api/v1/pipelines/{id}/stages/{kp}")).json(&archive).send().await.unwrap();
    let p = json(res).await;
    let kp_stage = p["stages"].as_array().unwrap().iter().find(|s| s["id"] == kp).unwrap();
    assert_eq!(kp_stage["archived"], true);
    assert_eq!(kp_stage["name"], "Коммерческое предложение");
    // An archived stage takes no new deals.
    let res = app
        .admin(Method::POST, "/api/v1/deals")
        .json(&json!({"client_id": client["id"], "title": "Ещё", "pipeline_id": id, "stage_id": kp}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["stage_id"]);

    // Becoming the default takes the flag from the old one.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/pipelines/{id}"))
        .json(&json!({"is_default": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await["is_default"], true);
    assert_eq!(default_pipeline(&app).await["id"], id);
    // Some pipeline is always the default: unsetting the flag conflicts with that.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/pipelines/{id}"))
        .json(&json!({"is_default": false}))
        .send()
        .await
        .unwrap();
    assert!(problem(res, 409).await["detail"].as_str().unwrap().contains("make another pipeline the default"));
    assert_eq!(default_pipeline(&app).await["id"], id);

    let (_, manager) = app.user(Role::Manager, "m@example.ru");
    let res = app
        .req(Method::POST, &format!("/api/v1/pipelines/{id}/stages"), &manager)
        .json(&json!({"name": "X", "kind": "open"}))
        .send()
        .await
        .unwrap();
    problem(res, 403).await;
    assert_eq!(app.req(Method::GET, "/api/v1/pipelines", &manager).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_deal_walks_the_funnel_and_every_move_is_recorded() {
    let app = TestApp::spawn().await;
    let p = default_pipeline(&app).await;
    let client = app.client(json!({"name": "Ромашка", "channel": "retail"})).await;
    let res = app
        .admin(Method::POST, "/api/v1/deals")
        .json(&json!({"client_id": client["id"], "title": "Поставка весна", "amount": "250000.5", "expected_close_date": "2027-03-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let deal = json(res).await;
    assert_eq!(deal["amount"], "250000.50");
    assert_eq!(deal["currency"], "RUB");
    assert_eq!(deal["status"], "open");
    assert_eq!(deal["stage_id"], stage_id(&p, "First call"));
    assert_eq!(deal["owner_id"], app.admin_id);
    let path = format!("/api/v1/deals/{}", deal["id"]);

    for stage in ["Meeting", "Interested", "Proposal sent", "Invoice issued", "Contract signed"] {
        let res = app
            .admin(Method::POST, &format!("{path}/stage"))
            .json(&json!({"stage_id": stage_id(&p, stage)}))
            .send()
            .await
            .unwrap();
        assert_eq!(json(res).await["status"], "open", "{stage}");
    }
    let res = app
        .admin(Method::POST, &format!("{path}/stage"))
        .json(&json!({"stage_id": stage_id(&p, "Paid")}))
        .send()
        .await
        .unwrap();
    let won = json(res).await;
    assert_eq!(won["status"], "won");
    assert!(won["closed_at"].is_string());

    // Closed: straight to lost is refused; reopening is allowed and recorded.
    let res = app
        .admin(Method::POST, &format!("{path}/stage"))
        .json(&json!({"stage_id": stage_id(&p, "Lost"), "lost_reason": "передумали"}))
        .send()
        .await
        .unwrap();
    problem(res, 409).await;
    let res = app
        .admin(Method::POST, &format!("{path}/stage"))
        .json(&json!({"stage_id": stage_id(&p, "Invoice issued")}))
        .send()
        .await
        .unwrap();
    let reopened = json(res).await;
    assert_eq!(reopened["status"], "open");
    assert_eq!(reopened["closed_at"], Value::Null);
    let res = app
        .admin(Method::POST, &format!("{path}/stage"))
        .json(&json!({"stage_id": stage_id(&p, "Lost")}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["lost_reason"]);
    let res = app
        .admin(Method::POST, &format!("{path}/stage"))
        .json(&json!({"stage_id": stage_id(&p, "Lost"), "lost_reason": "дорого"}))
        .send()
        .await
        .unwrap();
    let lost = json(res).await;
    assert_eq!((lost["status"].as_str(), lost["lost_reason"].as_str()), (Some("lost"), Some("дорого")));

    let history = json(app.admin(Method::GET, &format!("{path}/history")).send().await.unwrap()).await;
    let moves: Vec<(Option<i64>, i64)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["from_stage_id"].as_i64(), h["to_stage_id"].as_i64().unwrap()))
        .collect();
    assert_eq!(moves.len(), 9);
    assert_eq!(moves[0], (None, stage_id(&p, "First call")));
    assert_eq!(moves[6], (Some(stage_id(&p, "Contract signed")), stage_id(&p, "Paid")));
    assert_eq!(moves[7], (Some(stage_id(&p, "Paid")), stage_id(&p, "Invoice issued")));
    assert!(history.as_array().unwrap().iter().all(|h| h["changed_by"] == format!("user:{}", app.admin_id)));
    assert!(history.as_array().unwrap().iter().all(|h| h["channel"] == "retail" && h["owner_id"] == app.admin_id));

    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM events WHERE event_type = 'deal.stage_changed'"), 8);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM events WHERE event_type = 'deal.won'"), 1);
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM events WHERE event_type = 'deal.lost'"), 1);
}

#[tokio::test]
async fn bad_deal_input_is_refused_field_by_field() {
    let app = TestApp::spawn().await;
    let client = app.client(json!({"name": "Ромашка"})).await;
    let other = app
        .admin(Method::POST, "/api/v1/pipelines")
        .json(&json!({"name": "Другая", "stages": [{"name": "a", "kind": "open"}, {"name": "b", "kind": "won"}, {"name": "c", "kind": "lost"}]}))
        .send()
        .await
        .unwrap();
    let other = json(other).await;
    let foreign_stage = other["stages"][0]["id"].as_i64().unwrap();
    let res = app
        .admin(Method::POST, "/api/v1/deals")
        .json(&json!({"client_id": client["id"], "title": "X", "stage_id": foreign_stage}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["stage_id"]);
    let res = app
        .admin(Method::POST, "/api/v1/deals")
        .json(&json!({"client_id": 987654, "title": "", "amount": "-5", "currency": "rub", "owner_id": 987654}))
        .send()
        .await
        .unwrap();
    let got: HashSet<String> = fields(&problem(res, 422).await).into_iter().collect();
    let want: HashSet<String> = ["client_id", "title", "amount", "currency", "owner_id"].map(String::from).into();
    assert_eq!(got, want);
    // A deleted client takes no new deals.
    app.admin(Method::DELETE, &format!("/api/v1/clients/{}", client["id"])).send().await.unwrap();
    let res = app
        .admin(Method::POST, "/api/v1/deals")
        .json(&json!({"client_id": client["id"], "title": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["client_id"]);
    let res = app
        .admin(Method::POST, "/api/v1/deals")
        .json(&json!({"client_id": 1, "title": "X", "stage": 3}))
        .send()
        .await
        .unwrap();
    problem(res, 422).await;
}

#[tokio::test]
async fn deal_lists_filter_and_respect_ownership() {
    let app = TestApp::spawn().await;
    let (me, my_token) = app.user(Role::Manager, "me@example.ru");
    let (other, other_token) = app.user(Role::Manager, "other@example.ru");
    let mine = app.client(json!({"name": "Мой", "owner_id": me})).await;
    let theirs = app.client(json!({"name": "Чужой", "owner_id": other})).await;
    let create = |token: &String, client: &Value, title: &str, amount: &str| {
        app.req(Method::POST, "/api/v1/deals", token)
            .json(&json!({"client_id": client["id"], "title": title, "amount": amount}))
            .send()
    };
    assert_eq!(create(&my_token, &mine, "A", "100").await.unwrap().status(), 201);
    assert_eq!(create(&my_token, &mine, "B", "5000").await.unwrap().status(), 201);
    assert_eq!(create(&other_token, &theirs, "C", "700").await.unwrap().status(), 201);
    // Managers cannot open deals on someone else's client.
    let res = create(&my_token, &theirs, "D", "1").await.unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["client_id"]);
    // A supervisor may give a deal on the other's client to me: I see it, not the client.
    let res = app
        .admin(Method::POST, "/api/v1/deals")
        .json(&json!({"client_id": theirs["id"], "title": "E", "amount": "300", "owner_id": me}))
        .send()
        .await
        .unwrap();
    let shared = json(res).await;

    let titles = |v: Value| -> Vec<String> {
        let mut t: Vec<String> =
            v["items"].as_array().unwrap().iter().map(|d| d["title"].as_str().unwrap().to_string()).collect();
        t.sort();
        t
    };
    let list = |token: &String, q: &str| app.req(Method::GET, &format!("/api/v1/deals?{q}"), token).send();
    assert_eq!(titles(json(list(&my_token, "").await.unwrap()).await), ["A", "B", "E"]);
    assert_eq!(titles(json(list(&other_token, "").await.unwrap()).await), ["C", "E"]);
    assert_eq!(titles(json(list(&app.admin_token, "amount_min=200&amount_max=1000").await.unwrap()).await), ["C", "E"]);
    assert_eq!(
        titles(json(list(&app.admin_token, &format!("client_id={}", mine["id"])).await.unwrap()).await),
        ["A", "B"]
    );
    assert_eq!(titles(json(list(&app.admin_token, "status=won").await.unwrap()).await), Vec::<String>::new());
    assert_eq!(titles(json(list(&app.admin_token, "sort=-amount&limit=1").await.unwrap()).await), ["B"]);
    let page = json(list(&app.admin_token, "sort=amount&limit=2").await.unwrap()).await;
    let next = page["next_cursor"].as_str().unwrap();
    let rest = json(list(&app.admin_token, &format!("sort=amount&limit=10&cursor={next}")).await.unwrap()).await;
    assert_eq!(titles(rest), ["B", "C"]);
    problem(list(&app.admin_token, "amount_min=lots").await.unwrap(), 400).await;

    let c = json(list(&other_token, "").await.unwrap()).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["title"] == "C")
        .cloned()
        .unwrap();
    problem(app.req(Method::GET, &format!("/api/v1/deals/{}", c["id"]), &my_token).send().await.unwrap(), 404).await;
    assert_eq!(
        app.req(Method::GET, &format!("/api/v1/deals/{}", shared["id"]), &my_token).send().await.unwrap().status(),
        200
    );
    problem(app.req(Method::GET, &format!("/api/v1/clients/{}", theirs["id"]), &my_token).send().await.unwrap(), 404)
        .await;
    // Managers cannot delete deals; supervisors can.
    problem(app.req(Method::DELETE, &format!("/api/v1/deals/{}", shared["id"]), &my_token).send().await.unwrap(), 403)
        .await;
    assert_eq!(
        app.admin(Method::DELETE, &format!("/api/v1/deals/{}", shared["id"])).send().await.unwrap().status(),
        204
    );
    assert_eq!(titles(json(list(&my_token, "").await.unwrap()).await), ["A", "B"]);
}

#[tokio::test]
async fn activities_are_the_companys_record() {
    let app = TestApp::spawn_with(|c| c.activity_edit_hours = 1).await;
    let (me, my_token) = app.user(Role::Manager, "me@example.ru");
    let (_, sup) = app.user(Role::Supervisor, "sup@example.ru");
    let client = app.client(json!({"name": "Ромашка", "owner_id": me})).await;
    let res = app
        .req(Method::POST, "/api/v1/activities", &my_token)
        .json(&json!({"type": "call", "direction": "outbound", "client_id": client["id"], "duration_seconds": 310,
                      "subject": "Первый звонок", "outcome": "interested", "external_ref": "pbx-1",
                      "recording_url": "https://pbx.example.ru/rec/1.mp3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let call = json(res).await;
    assert_eq!(call["author_id"], me);
    let path = format!("/api/v1/activities/{}", call["id"]);

    let res = app
        .req(Method::POST, "/api/v1/activities", &my_token)
        .json(&json!({"type": "note", "direction": "inbound", "client_id": client["id"], "recording_url": "ftp://x", "duration_seconds": -1}))
        .send()
        .await
        .unwrap();
    let mut f = fields(&problem(res, 422).await);
    f.sort();
    assert_eq!(f, ["direction", "duration_seconds", "recording_url"]);

    // The author corrects it within the window; a supervisor's note is not theirs to edit.
    let res = app.req(Method::PATCH, &path, &my_token).json(&json!({"outcome": "meeting set"})).send().await.unwrap();
    assert_eq!(json(res).await["outcome"], "meeting set");
    let res = app
        .req(Method::POST, "/api/v1/activities", &sup)
        .json(&json!({"type": "note", "client_id": client["id"], "body": "Проверить оплату"}))
        .send()
        .await
        .unwrap();
    let note = json(res).await;
    let res = app
        .req(Method::PATCH, &format!("/api/v1/activities/{}", note["id"]), &my_token)
        .json(&json!({"body": "x"}))
        .send()
        .await
        .unwrap();
    problem(res, 403).await;
    // Past the window even the author cannot change it.
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE activities SET created_at = '2020-01-01 00:00:00' WHERE id = {}",
            call["id"]
        )),
        &mut *app.conn(),
    )
    .unwrap();
    let res = app.req(Method::PATCH, &path, &my_token).json(&json!({"outcome": "rewritten"})).send().await.unwrap();
    problem(res, 403).await;
    // Only those with the deletion right delete, softly.
    problem(app.req(Method::DELETE, &path, &my_token).send().await.unwrap(), 403).await;
    assert_eq!(
        app.req(Method::DELETE, &format!("/api/v1/activities/{}", note["id"]), &sup).send().await.unwrap().status(),
        204
    );
    problem(app.admin(Method::GET, &format!("/api/v1/activities/{}", note["id"])).send().await.unwrap(), 404).await;

    // The record survives its author's deactivation.
    app.admin(Method::POST, &format!("/api/v1/users/{me}/deactivate")).send().await.unwrap();
    let res = app.admin(Method::GET, &format!("/api/v1/activities?client_id={}", client["id"])).send().await.unwrap();
    let page = json(res).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["author_id"], me);
    assert_eq!(page["items"][0]["outcome"], "meeting set");
}

#[tokio::test]
async fn tasks_make_a_managers_day() {
    let app = TestApp::spawn().await;
    let (me, my_token) = app.user(Role::Manager, "me@example.ru");
    let (other, _) = app.user(Role::Manager, "other@example.ru");
    let client = app.client(json!({"name": "Ромашка", "owner_id": me})).await;
    let now = Utc::now();
    let mk = |title: &str, due: chrono::DateTime<Utc>| {
        app.req(Method::POST, "/api/v1/tasks", &my_token)
            .json(&json!({"title": title, "type": "call_back", "due_at": due, "client_id": client["id"]}))
            .send()
    };
    let overdue = json(mk("Перезвонить вчера", now - Duration::days(1)).await.unwrap()).await;
    assert_eq!(overdue["assignee_id"], me);
    json(mk("Сегодня", now + Duration::minutes(1)).await.unwrap()).await;
    json(mk("Через три дня", now + Duration::days(3)).await.unwrap()).await;
    json(mk("Через месяц", now + Duration::days(30)).await.unwrap()).await;
    let res = app
        .req(Method::POST, "/api/v1/tasks", &my_token)
        .json(&json!({"title": "Чужая", "type": "meeting", "due_at": now, "assignee_id": other}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["assignee_id"]);

    let titles = |v: Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_string()).collect()
    };
    let day = |q: &str| app.req(Method::GET, &format!("/api/v1/tasks?assignee=me&{q}"), &my_token).send();
    assert_eq!(titles(json(day("due=overdue").await.unwrap()).await), ["Перезвонить вчера"]);
    let today = titles(json(day("due=today&utc_offset=%2B00:00").await.unwrap()).await);
    assert!(today.contains(&"Сегодня".to_string()));
    assert!(!today.contains(&"Через три дня".to_string()));
    let week = titles(json(day("due=week").await.unwrap()).await);
    assert!(week.contains(&"Через три дня".to_string()) && !week.contains(&"Через месяц".to_string()));
    problem(day("due=someday").await.unwrap(), 400).await;
    problem(day("utc_offset=moscow&due=today").await.unwrap(), 400).await;

    // Done: stamped, announced, kept.
    let path = format!("/api/v1/tasks/{}", overdue["id"]);
    let res = app.req(Method::PATCH, &path, &my_token).json(&json!({"status": "done"})).send().await.unwrap();
    let done = json(res).await;
    assert!(done["completed_at"].is_string());
    assert!(titles(json(day("due=overdue").await.unwrap()).await).is_empty());
    problem(app.req(Method::DELETE, &path, &my_token).send().await.unwrap(), 409).await;
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM events WHERE event_type = 'task.completed'"), 1);

    // No task for a deleted client.
    app.admin(Method::DELETE, &format!("/api/v1/clients/{}", client["id"])).send().await.unwrap();
    let res = mk("Поздно", now).await.unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["client_id"]);
}

#[tokio::test]
async fn the_timeline_merges_history_newest_first() {
    let app = TestApp::spawn().await;
    let p = default_pipeline(&app).await;
    let client = app.client(json!({"name": "Ромашка"})).await;
    let cid = client["id"].as_i64().unwrap();
    let deal = json(
        app.admin(Method::POST, "/api/v1/deals")
            .json(&json!({"client_id": cid, "title": "Сделка"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    for (i, stage) in ["Meeting", "Interested"].iter().enumerate() {
        let at = Utc::now() - Duration::hours(10 - i as i64);
        app.admin(Method::POST, "/api/v1/activities")
            .json(&json!({"type": "call", "client_id": cid, "occurred_at": at, "subject": format!("Звонок {i}")}))
            .send()
            .await
            .unwrap();
        app.admin(Method::POST, &format!("/api/v1/deals/{}/stage", deal["id"]))
            .json(&json!({"stage_id": stage_id(&p, stage)}))
            .send()
            .await
            .unwrap();
    }
    let task = json(
        app.admin(Method::POST, "/api/v1/tasks")
            .json(&json!({"title": "КП", "type": "send_proposal", "due_at": Utc::now(), "client_id": cid}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    app.admin(Method::PATCH, &format!("/api/v1/tasks/{}", task["id"]))
        .json(&json!({"status": "done"}))
        .send()
        .await
        .unwrap();
    // Another client's history stays out.
    let other = app.client(json!({"name": "Другой"})).await;
    app.admin(Method::POST, "/api/v1/activities")
        .json(&json!({"type": "note", "client_id": other["id"]}))
        .send()
        .await
        .unwrap();

    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/clients/{cid}/timeline?limit=2&cursor={c}"),
            None => format!("/api/v1/clients/{cid}/timeline?limit=2"),
        };
        let page = json(app.admin(Method::GET, &url).send().await.unwrap()).await;
        entries.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let types: Vec<&str> = entries.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(entries.len(), 6, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "activity").count(), 2);
    assert_eq!(types.iter().filter(|t| **t == "deal_stage_changed").count(), 2);
    assert_eq!(types.iter().filter(|t| **t == "deal_created").count(), 1);
    assert_eq!(types.iter().filter(|t| **t == "task_completed").count(), 1);
    let times: Vec<&str> = entries.iter().map(|e| e["occurred_at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    // The two calls were logged in the past: they are the oldest entries.
    assert_eq!(entries[5]["activity"]["subject"], "Звонок 0");
    assert_eq!(entries[4]["activity"]["subject"], "Звонок 1");
    let change = entries.iter().find(|e| e["type"] == "deal_stage_changed").unwrap();
    assert_eq!(change["deal"]["title"], "Сделка");
    assert!(change["from_stage"]["name"].is_string() && change["to_stage"]["name"].is_string());

    let only = json(
        app.admin(Method::GET, &format!("/api/v1/clients/{cid}/timeline?types=activity,task_completed"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let kinds: HashSet<&str> = only["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, HashSet::from(["activity", "task_completed"]));
    problem(app.admin(Method::GET, &format!("/api/v1/clients/{cid}/timeline?types=gossip")).send().await.unwrap(), 400)
        .await;
    problem(app.admin(Method::GET, &format!("/api/v1/clients/{cid}/timeline?cursor=zzz")).send().await.unwrap(), 400)
        .await;
    let (_, manager) = app.user(Role::Manager, "m@example.ru");
    problem(app.req(Method::GET, &format!("/api/v1/clients/{cid}/timeline"), &manager).send().await.unwrap(), 404)
        .await;
}
