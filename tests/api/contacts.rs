use clientbase::auth::scopes::Role;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn contact_persons_belong_to_their_client() {
    let app = TestApp::spawn().await;
    let client = app.client(json!({"name": "Ромашка"})).await;
    let base = format!("/api/v1/clients/{}/contacts", client["id"]);
    let res = app
        .admin(Method::POST, &base)
        .json(&json!({
            "name": "Мария Петрова",
            "position": "Закупщик",
            "is_decision_maker": true,
            "phones": [{"number": "8 916 000-11-22", "type": "mobile"}],
            "emails": [{"address": "M.Petrova@Romashka.ru"}],
            "birthday": "1985-03-08",
            "preferences": "Пишет в мессенджер, не звонить после 18"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let contact = json(res).await;
    assert_eq!(contact["phones"][0]["number"], "+79160001122");
    assert_eq!(contact["emails"][0]["address"], "m.petrova@romashka.ru");
    assert_eq!(contact["birthday"], "1985-03-08");
    let path = format!("/api/v1/contacts/{}", contact["id"]);

    let res = app
        .admin(Method::PATCH, &path)
        .header("If-Match", format!("\"{}-1\"", contact["id"]))
        .json(&json!({"position": null, "is_decision_maker": false}))
        .send()
        .await
        .unwrap();
    let patched = json(res).await;
    assert_eq!(patched["position"], serde_json::Value::Null);
    assert_eq!(patched["name"], "Мария Петрова");
    assert_eq!(patched["version"], 2);

    let page = json(app.admin(Method::GET, &base).send().await.unwrap()).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM contact_points WHERE contact_id IS NOT NULL"), 2);

    assert_eq!(app.admin(Method::DELETE, &path).send().await.unwrap().status(), 204);
    problem(app.admin(Method::GET, &path).send().await.unwrap(), 404).await;
    assert_eq!(count(&mut conn, "SELECT COUNT(*) AS n FROM contact_points WHERE contact_id IS NOT NULL"), 0);
}

#[tokio::test]
async fn contacts_validate_and_follow_client_ownership() {
    let app = TestApp::spawn().await;
    let (other, _) = app.user(Role::Manager, "other@example.ru");
    let (_, my_token) = app.user(Role::Manager, "me@example.ru");
    let theirs = app.client(json!({"name": "Чужой", "owner_id": other})).await;
    let res = app
        .admin(Method::POST, &format!("/api/v1/clients/{}/contacts", theirs["id"]))
        .json(&json!({"name": "", "phones": [{"number": "x"}], "birthday": "1985-13-40"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["birthday"]);
    let res = app
        .admin(Method::POST, &format!("/api/v1/clients/{}/contacts", theirs["id"]))
        .json(&json!({"name": "", "phones": [{"number": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["name", "phones[0].number"]);
    let res = app
        .admin(Method::POST, &format!("/api/v1/clients/{}/contacts", theirs["id"]))
        .json(&json!({"name": "Пётр"}))
        .send()
        .await
        .unwrap();
    let contact = json(res).await;
    let path = format!("/api/v1/contacts/{}", contact["id"]);
    problem(app.req(Method::GET, &path, &my_token).send().await.unwrap(), 404).await;
    problem(app.req(Method::DELETE, &path, &my_token).send().await.unwrap(), 404).await;
    let res = app
        .req(Method::POST, &format!("/api/v1/clients/{}/contacts", theirs["id"]), &my_token)
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    problem(res, 404).await;
    // A deleted client's contacts are gone with it.
    app.admin(Method::DELETE, &format!("/api/v1/clients/{}", theirs["id"])).send().await.unwrap();
    problem(app.admin(Method::GET, &path).send().await.unwrap(), 404).await;
}
