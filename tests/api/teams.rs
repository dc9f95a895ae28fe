//! Teams: created with a lead and members, paged with their members, changed at the version
//! read, deleted; bad members, leads and channels named field by field; every change audited;
//! only whoever manages the users may touch them.

use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn teams_are_managed_with_their_members() {
    let app = TestApp::spawn().await;
    let (lead, _) = app.user(Role::Supervisor, "lead@example.ru");
    let (m1, _) = app.user(Role::Manager, "m1@example.ru");
    let (m2, _) = app.user(Role::Manager, "m2@example.ru");

    let res = app
        .admin(Method::POST, "/api/v1/teams")
        .json(&json!({"name": "  Север  ", "lead_id": lead, "members": [m2, m1], "region": "Ярославская область", "channel": "retail"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let team = json(res).await;
    let id = team["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/teams/{id}"));
    assert_eq!(team["name"], "Север");
    assert_eq!(team["lead_id"], lead);
    assert_eq!(team["members"], json!([m1.min(m2), m1.max(m2)]));
    assert_eq!(team["channel"], "retail");

    // A second team holding one of the same members; names are unique.
    let res =
        app.admin(Method::POST, "/api/v1/teams").json(&json!({"name": "Юг", "members": [m1]})).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let south = json(res).await["id"].as_i64().unwrap();
    let res = app.admin(Method::POST, "/api/v1/teams").json(&json!({"name": "Север"})).send().await.unwrap();
    problem(res, 409).await;

    // Pages in id order, members included; filters by member and by lead.
    let page = json(app.admin(Method::GET, "/api/v1/teams?limit=1").send().await.unwrap()).await;
    assert_eq!(page["items"][0]["id"], id);
    assert_eq!(page["items"][0]["members"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let page = json(app.admin(Method::GET, &format!("/api/v1/teams?cursor={cursor}")).send().await.unwrap()).await;
    assert_eq!(page["items"][0]["id"], south);
    assert!(page["next_cursor"].is_null());
    let page = json(app.admin(Method::GET, &format!("/api/v1/teams?member_id={m1}")).send().await.unwrap()).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let page = json(app.admin(Method::GET, &format!("/api/v1/teams?member_id={m2}")).send().await.unwrap()).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page = json(app.admin(Method::GET, &format!("/api/v1/teams?lead_id={lead}")).send().await.unwrap()).await;
    assert_eq!(page["items"][0]["id"], id);

    // A change at the version read replaces the members; the old ETag is then stale.
    let res = app.admin(Method::GET, &format!("/api/v1/teams/{id}")).send().await.unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/teams/{id}"))
        .header("If-Match", &etag)
        .json(&json!({"members": [m2], "channel": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let changed = json(res).await;
    assert_eq!(changed["members"], json!([m2]));
    assert!(changed["channel"].is_null());
    assert_eq!(changed["region"], "Ярославская область");
    assert_eq!(changed["version"], 2);
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/teams/{id}"))
        .header("If-Match", &etag)
        .json(&json!({"name": "Stale"}))
        .send()
        .await
        .unwrap();
    problem(res, 412).await;

    // A member deactivated since does not block a change to the rest of the team.
    let res = app.admin(Method::POST, &format!("/api/v1/users/{m2}/deactivate")).json(&json!({})).send().await.unwrap();
    assert!(res.status().is_success(), "deactivation: {}", res.status());
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/teams/{id}"))
        .json(&json!({"name": "Север-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(json(res).await["members"], json!([m2]));

    let res = app.admin(Method::DELETE, &format!("/api/v1/teams/{id}")).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let res = app.admin(Method::GET, &format!("/api/v1/teams/{id}")).send().await.unwrap();
    problem(res, 404).await;
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, &format!("SELECT count(*) AS n FROM team_members WHERE team_id = {id}")), 0);
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM audit_log WHERE action LIKE 'teams.%' AND target_type = 'team'"),
        5,
        "two creations, two changes and a deletion; the refused duplicate name left nothing on record"
    );
}

#[tokio::test]
async fn bad_teams_are_refused_field_by_field() {
    let app = TestApp::spawn().await;
    let (m1, _) = app.user(Role::Manager, "m1@example.ru");
    let (gone, _) = app.user(Role::Manager, "gone@example.ru");
    let res =
        app.admin(Method::POST, &format!("/api/v1/users/{gone}/deactivate")).json(&json!({})).send().await.unwrap();
    assert!(res.status().is_success(), "deactivation: {}", res.status());

    let res = app
        .admin(Method::POST, "/api/v1/teams")
        .json(&json!({"name": "   ", "lead_id": 999_999, "members": [m1, 888_888, m1, gone], "region": " ", "channel": "nowhere"}))
        .send()
        .await
        .unwrap();
    let p = problem(res, 422).await;
    let mut named = fields(&p);
    named.sort();
    named.dedup();
    assert_eq!(named, ["channel", "lead_id", "members[1]", "members[2]", "members[3]", "name", "region"]);

    let res =
        app.admin(Method::POST, "/api/v1/teams").json(&json!({"name": "Ок", "colour": "red"})).send().await.unwrap();
    assert!(res.status().is_client_error());
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM teams"), 0, "nothing was written");

    let res = app.admin(Method::PATCH, "/api/v1/teams/12345").json(&json!({"name": "x"})).send().await.unwrap();
    problem(res, 404).await;
    let res = app.admin(Method::GET, "/api/v1/teams?cursor=garbage").send().await.unwrap();
    problem(res, 400).await;
}

#[tokio::test]
async fn only_user_managers_touch_teams() {
    let app = TestApp::spawn().await;
    let (_, manager) = app.user(Role::Manager, "m@example.ru");
    let (_, supervisor) = app.user(Role::Supervisor, "s@example.ru");
    for token in [&manager, &supervisor] {
        let res = app.req(Method::GET, "/api/v1/teams", token).send().await.unwrap();
        problem(res, 403).await;
        let res = app.req(Method::POST, "/api/v1/teams", token).json(&json!({"name": "Мы"})).send().await.unwrap();
        problem(res, 403).await;
    }
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM teams"), 0);
}
