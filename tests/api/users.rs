use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn administrators_manage_users() {
    let app = TestApp::spawn().await;
    let res = app
        .admin(Method::POST, "/api/v1/users")
        .json(&json!({"email": "Ivanov@Example.RU", "name": "Иван Иванов", "role": "manager", "password": "long-enough-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/api/v1/users/"));
    let user = json(res).await;
    assert_eq!(user["email"], "ivanov@example.ru");
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());
    let id = user["id"].as_i64().unwrap();

    let res = app
        .admin(Method::POST, "/api/v1/users")
        .json(&json!({"email": "ivanov@example.ru", "name": "Dup", "role": "manager", "password": "long-enough-pw"}))
        .send()
        .await
        .unwrap();
    problem(res, 409).await;

    let res = app.admin(Method::GET, &format!("/api/v1/users/{id}")).send().await.unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/users/{id}"))
        .header("If-Match", &etag)
        .json(&json!({"name": "Иван Петрович"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(res).await["name"], "Иван Петрович");
    // The old ETag is stale now.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/users/{id}"))
        .header("If-Match", &etag)
        .json(&json!({"name": "Stale"}))
        .send()
        .await
        .unwrap();
    problem(res, 412).await;

    let page = json(app.admin(Method::GET, "/api/v1/users?role=manager").send().await.unwrap()).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let page = json(app.admin(Method::GET, "/api/v1/users?sort=-name&limit=1").send().await.unwrap()).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());
}

#[tokio::test]
async fn user_input_is_validated_field_by_field() {
    let app = TestApp::spawn().await;
    let res = app
        .admin(Method::POST, "/api/v1/users")
        .json(&json!({"email": "not-an-email", "name": "", "role": "manager", "password": "short"}))
        .send()
        .await
        .unwrap();
    let mut f = fields(&problem(res, 422).await);
    f.sort();
    assert_eq!(f, ["email", "name", "password"]);
    let res = app
        .admin(Method::POST, "/api/v1/users")
        .json(&json!({"email": "a@b.ru", "name": "A", "role": "boss", "password": "long-enough-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["role"]);
}

#[tokio::test]
async fn the_last_administrator_and_oneself_are_protected() {
    let app = TestApp::spawn().await;
    let res = app.admin(Method::POST, &format!("/api/v1/users/{}/deactivate", app.admin_id)).send().await.unwrap();
    problem(res, 409).await;
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/users/{}", app.admin_id))
        .json(&json!({"role": "manager"}))
        .send()
        .await
        .unwrap();
    problem(res, 409).await;
}

#[tokio::test]
async fn managers_cannot_manage_users() {
    let app = TestApp::spawn().await;
    let (_, token) = app.user(Role::Manager, "m@example.ru");
    let res = app.req(Method::GET, "/api/v1/users", &token).send().await.unwrap();
    problem(res, 403).await;
    let (_, token) = app.user(Role::Supervisor, "s@example.ru");
    let res = app.req(Method::GET, "/api/v1/users", &token).send().await.unwrap();
    problem(res, 403).await;
    let res = app.admin(Method::GET, "/api/v1/users/999999").send().await.unwrap();
    problem(res, 404).await;
}
