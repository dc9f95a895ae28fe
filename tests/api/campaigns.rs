use std::time::Duration;

use clientbase::webhooks::signing;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::{signature_valid, Receiver};

struct Setup {
    provider: Value,
    secret: String,
    reachable: Vec<i64>,
    no_consent: i64,
    no_email: i64,
    bounced_before: i64,
}

async fn setup(app: &TestApp, receiver: &Receiver) -> Setup {
    let res = app
        .admin(Method::POST, "/api/v1/webhooks")
        .json(&json!({"name": "unisender", "url": receiver.url, "event_types": ["campaign.launched"], "mailing_provider": true}))
        .send()
        .await
        .unwrap();
    let provider = json(res).await;
    let secret = provider["secret"].as_str().unwrap().to_string();
    let mut reachable = Vec::new();
    for (i, email) in ["a@vip.ru", "b@vip.ru", "c@vip.ru"].iter().enumerate() {
        let c = app
            .client(json!({"name": format!("VIP {i}"), "region": "Москва", "mailing_consent": true, "emails": [{"address": email}], "tags": ["vip"]}))
            .await;
        reachable.push(c["id"].as_i64().unwrap());
    }
    let no_consent =
        app.client(json!({"name": "Без согласия", "emails": [{"address": "x@x.ru"}], "tags": ["vip"]})).await["id"]
            .as_i64()
            .unwrap();
    let no_email = app.client(json!({"name": "Без почты", "mailing_consent": true, "tags": ["vip"]})).await["id"]
        .as_i64()
        .unwrap();
    let bounced_before = app
        .client(json!({"name": "Плохой адрес", "mailing_consent": true, "emails": [{"address": "dead@x.ru", "invalid": true}], "tags": ["vip"]}))
        .await["id"]
        .as_i64()
        .unwrap();
    Setup { provider, secret, reachable, no_consent, no_email, bounced_before }
}

/// A provider callback, signed like the provider would.
async fn callback(app: &TestApp, secret: &str, id: &str, timestamp: i64, body: &Value) -> reqwest::Response {
    let raw = body.to_string();
    app.anon(Method::POST, "/api/v1/providers/unisender/events")
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signing::sign(secret, id, timestamp, raw.as_bytes()))
        .body(raw)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_campaign_reaches_only_consenting_clients_once() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let s = setup(&app, &receiver).await;
    let segment = json(
        app.admin(Method::POST, "/api/v1/segments")
            .json(&json!({"name": "VIP", "filter": {"tags": ["vip"]}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = app
        .admin(Method::POST, "/api/v1/campaigns")
        .json(&json!({"name": "Новая коллекция", "channel": "email", "audience": {"segment_id": segment["id"]},
                      "subject": "Для вас", "template": "spring-2027", "merge_fields": ["name", "region"], "provider": "unisender"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let campaign = json(res).await;
    assert_eq!(campaign["status"], "draft");
    let id = campaign["id"].as_i64().unwrap();

    let res = app.admin(Method::POST, &format!("/api/v1/campaigns/{id}/launch?batch_size=2")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let launched = json(res).await;
    assert_eq!(launched["status"], "launched");
    assert_eq!(launched["skipped"], json!({"no_consent": 1, "no_address": 2}));
    // Two batches of recipients (2 + 1) and the campaign.launched event.
    let got = receiver.wait_for(3, 5).await;
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|r| signature_valid(&s.secret, r)));
    let batches: Vec<Value> = got.iter().map(|r| r.json()).filter(|b| b["type"] == "campaign.recipients").collect();
    assert_eq!(batches.len(), 2);
    let mut addressed: Vec<(i64, String)> = batches
        .iter()
        .flat_map(|b| b["data"]["recipients"].as_array().unwrap().clone())
        .map(|r| (r["client_id"].as_i64().unwrap(), r["address"].as_str().unwrap().to_string()))
        .collect();
    addressed.sort();
    assert_eq!(addressed.iter().map(|(c, _)| *c).collect::<Vec<_>>(), s.reachable);
    assert_eq!(addressed[0].1, "a@vip.ru");
    let first = &batches.iter().find(|b| b["data"]["batch"] == 0).unwrap()["data"];
    assert_eq!(first["template"], "spring-2027");
    assert_eq!(first["recipients"][0]["merge_fields"]["region"], "Москва");
    assert!(first["recipients"][0]["recipient_id"].as_i64().unwrap() > 0);
    assert!(!addressed.iter().any(|(c, _)| [s.no_consent, s.no_email, s.bounced_before].contains(c)));

    // Launching again sends nothing.
    let res = app.admin(Method::POST, &format!("/api/v1/campaigns/{id}/launch")).send().await.unwrap();
    problem(res, 409).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), 3);
    let res =
        app.admin(Method::PATCH, &format!("/api/v1/campaigns/{id}")).json(&json!({"name": "x"})).send().await.unwrap();
    problem(res, 409).await;
    let stats = json(app.admin(Method::GET, &format!("/api/v1/campaigns/{id}/stats")).send().await.unwrap()).await;
    assert_eq!(stats["recipients"], 3);
    assert_eq!(stats["by_status"]["queued"], 3);
}

#[tokio::test]
async fn provider_callbacks_update_recipients_consent_and_addresses() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let s = setup(&app, &receiver).await;
    let res = app
        .admin(Method::POST, "/api/v1/campaigns")
        .json(&json!({"name": "Акция", "channel": "email", "audience": {"client_ids": s.reachable}, "template": "t1", "provider": "unisender"}))
        .send()
        .await
        .unwrap();
    let id = json(res).await["id"].as_i64().unwrap();
    app.admin(Method::POST, &format!("/api/v1/campaigns/{id}/launch")).send().await.unwrap();
    let page = json(app.admin(Method::GET, &format!("/api/v1/campaigns/{id}/recipients")).send().await.unwrap()).await;
    let recipient = |client: i64| {
        page["items"].as_array().unwrap().iter().find(|r| r["client_id"] == client).unwrap()["id"].clone()
    };
    let (r0, r1, r2) = (recipient(s.reachable[0]), recipient(s.reachable[1]), recipient(s.reachable[2]));
    let now = chrono::Utc::now().timestamp();
    let body = json!({"events": [
        {"recipient_id": r0, "status": "delivered"},
        {"recipient_id": r0, "status": "opened"},
        {"recipient_id": r1, "status": "delivered"},
        {"recipient_id": r1, "status": "unsubscribed"},
        {"recipient_id": r2, "status": "bounced", "hard": true, "reason": "mailbox does not exist"},
        {"recipient_id": 999999, "status": "delivered"}
    ]});

    // Unsigned, stale, wrongly signed: refused, nothing changes.
    let res = app.anon(Method::POST, "/api/v1/providers/unisender/events").json(&body).send().await.unwrap();
    problem(res, 401).await;
    problem(callback(&app, &s.secret, "msg_cb_1", now - 3600, &body).await, 401).await;
    problem(callback(&app, &signing::new_secret(), "msg_cb_1", now, &body).await, 401).await;
    let res = callback(&app, &s.secret, "msg_cb_1", now, &body).await;
    assert_eq!(res.status(), 200);
    let result = json(res).await;
    assert_eq!((result["processed"].as_u64(), result["ignored"].as_u64()), (Some(5), Some(1)));
    assert_eq!(result["duplicate"], false);
    // The same message again is acknowledged and changes nothing; an older status is ignored.
    let again = json(callback(&app, &s.secret, "msg_cb_1", now, &body).await).await;
    assert_eq!((again["duplicate"].as_bool(), again["processed"].as_u64()), (Some(true), Some(0)));
    let late = json!({"events": [{"recipient_id": r0, "status": "delivered"}]});
    let late = json(callback(&app, &s.secret, "msg_cb_2", now, &late).await).await;
    assert_eq!(late["ignored"], 1);

    let stats = json(app.admin(Method::GET, &format!("/api/v1/campaigns/{id}/stats")).send().await.unwrap()).await;
    assert_eq!(stats["by_status"]["opened"], 1);
    assert_eq!(stats["by_status"]["unsubscribed"], 1);
    assert_eq!(stats["by_status"]["bounced"], 1);
    assert!((stats["delivery_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(stats["open_rate"], 0.5);
    let opened =
        json(app.admin(Method::GET, &format!("/api/v1/campaigns/{id}/recipients?status=opened")).send().await.unwrap())
            .await;
    assert_eq!(opened["items"].as_array().unwrap().len(), 1);
    assert_eq!(opened["items"][0]["client_id"], s.reachable[0]);

    // The unsubscribe withdrew consent; the hard bounce marked the address invalid.
    let c1 = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", s.reachable[1])).send().await.unwrap()).await;
    assert_eq!(c1["mailing_consent"], false);
    let c2 = json(app.admin(Method::GET, &format!("/api/v1/clients/{}", s.reachable[2])).send().await.unwrap()).await;
    assert_eq!(c2["emails"][0]["invalid"], true);
    assert_eq!(c2["mailing_consent"], true);
    // Each status is in the client's timeline.
    let timeline = json(
        app.admin(Method::GET, &format!("/api/v1/clients/{}/timeline?types=campaign", s.reachable[0]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let statuses: Vec<&str> =
        timeline["items"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&"opened") && statuses.contains(&"delivered"));
    assert_eq!(timeline["items"][0]["campaign"]["name"], "Акция");
    let mut conn = app.conn();
    assert_eq!(
        count(&mut conn, "SELECT COUNT(*) AS n FROM events WHERE event_type = 'campaign.recipient_status_changed'"),
        5
    );
    assert_eq!(s.provider["mailing_provider"], true);
}

#[tokio::test]
async fn campaigns_validate_their_audience_and_provider() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let res = app
        .admin(Method::POST, "/api/v1/webhooks")
        .json(&json!({"name": "plain", "url": receiver.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = app
        .admin(Method::POST, "/api/v1/campaigns")
        .json(&json!({"name": "", "channel": "email", "audience": {"segment_id": 1, "client_ids": [1]}, "template": "t", "provider": "plain"}))
        .send()
        .await
        .unwrap();
    let mut f = fields(&problem(res, 422).await);
    f.sort();
    assert_eq!(f, ["audience", "name", "provider"]);
    let res = app
        .admin(Method::POST, "/api/v1/campaigns")
        .json(&json!({"name": "x", "channel": "pigeon", "audience": {"client_ids": [1]}, "template": "t", "provider": "plain"}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["channel"]);
    let (_, manager) = app.user(clientbase::auth::scopes::Role::Manager, "m@example.ru");
    assert_eq!(app.req(Method::GET, "/api/v1/campaigns", &manager).send().await.unwrap().status(), 200);
    let res = app.req(Method::POST, "/api/v1/campaigns/1/launch", &manager).send().await.unwrap();
    problem(res, 403).await;
    problem(app.admin(Method::POST, "/api/v1/campaigns/999/launch").send().await.unwrap(), 404).await;
    problem(
        app.anon(Method::POST, "/api/v1/providers/nobody/events").json(&json!({"events": []})).send().await.unwrap(),
        404,
    )
    .await;
}

/// A client with consent and an address, tagged `promo`, owned by `owner` (else by the administrator).
async fn reachable_client(app: &TestApp, name: &str, owner: Option<i64>, email: &str) -> i64 {
    let mut body = json!({"name": name, "mailing_consent": true, "emails": [{"address": email}], "tags": ["promo"]});
    if let Some(owner) = owner {
        body["owner_id"] = json!(owner);
    }
    app.client(body).await["id"].as_i64().unwrap()
}

/// The client ids of every recipient a caller is shown, following `next_cursor` page by page.
async fn recipient_clients(app: &TestApp, campaign: i64, token: &str) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/campaigns/{campaign}/recipients?limit=1&cursor={c}"),
            None => format!("/api/v1/campaigns/{campaign}/recipients?limit=1"),
        };
        let res = app.req(Method::GET, &path, token).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let page = json(res).await;
        seen.extend(page["items"].as_array().unwrap().iter().map(|r| r["client_id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    seen.sort();
    seen
}

/// The `audience.client_ids` of a campaign as the caller sees it, alone and in the list.
async fn audience_seen(app: &TestApp, campaign: i64, token: &str) -> (Value, Value) {
    let res = app.req(Method::GET, &format!("/api/v1/campaigns/{campaign}"), token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let one = json(res).await["audience"]["client_ids"].clone();
    let res = app.req(Method::GET, "/api/v1/campaigns", token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let list = json(res).await;
    let listed = list["items"].as_array().unwrap().iter().find(|c| c["id"] == campaign).unwrap()["audience"]
        ["client_ids"]
        .clone();
    (one, listed)
}

#[tokio::test]
async fn a_manager_sees_only_the_recipients_and_audience_of_their_own_clients() {
    use clientbase::auth::scopes::Role;
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let res = app
        .admin(Method::POST, "/api/v1/webhooks")
        .json(&json!({"name": "unisender", "url": receiver.url, "event_types": ["campaign.launched"], "mailing_provider": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let (anna, anna_token) = app.user(Role::Manager, "anna@example.ru");
    let (boris, boris_token) = app.user(Role::Manager, "boris@example.ru");
    let a1 = reachable_client(&app, "Анны первый", Some(anna), "a1@x.ru").await;
    let b1 = reachable_client(&app, "Бориса", Some(boris), "b1@x.ru").await;
    let a2 = reachable_client(&app, "Анны второй", Some(anna), "a2@x.ru").await;
    let admins = reachable_client(&app, "Администратора", None, "adm@x.ru").await;
    // The administrator's own client is not the managers' either.
    assert_eq!(app.admin(Method::GET, &format!("/api/v1/clients/{admins}")).send().await.unwrap().status(), 200);
    problem(app.req(Method::GET, &format!("/api/v1/clients/{b1}"), &anna_token).send().await.unwrap(), 404).await;

    // An explicit audience naming everyone's clients, and a segment one.
    let res = app
        .admin(Method::POST, "/api/v1/campaigns")
        .json(&json!({"name": "Общая", "channel": "email", "audience": {"client_ids": [b1, a1, admins, a2]},
                      "template": "t1", "provider": "unisender"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let explicit = json(res).await["id"].as_i64().unwrap();
    let segment = json(
        app.admin(Method::POST, "/api/v1/segments")
            .json(&json!({"name": "Промо", "filter": {"tags": ["promo"]}}))
            .send()
            .await
            .unwrap(),
    )
    .await["id"]
        .clone();
    let res = app
        .admin(Method::POST, "/api/v1/campaigns")
        .json(&json!({"name": "По сегменту", "channel": "email", "audience": {"segment_id": segment},
                      "template": "t2", "provider": "unisender"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let by_segment = json(res).await["id"].as_i64().unwrap();

    // The draft's audience is filtered already.
    assert_eq!(audience_seen(&app, explicit, &anna_token).await, (json!([a1, a2]), json!([a1, a2])));
    for id in [explicit, by_segment] {
        let res = app.admin(Method::POST, &format!("/api/v1/campaigns/{id}/launch")).send().await.unwrap();
        assert_eq!(res.status(), 200);
    }

    let mut everyone = vec![a1, b1, a2, admins];
    everyone.sort();
    for id in [explicit, by_segment] {
        assert_eq!(recipient_clients(&app, id, &anna_token).await, [a1, a2], "campaign {id} as anna");
        assert_eq!(recipient_clients(&app, id, &boris_token).await, [b1], "campaign {id} as boris");
        assert_eq!(recipient_clients(&app, id, &app.admin_token).await, everyone, "campaign {id} as admin");
        // A status filter narrows within what the manager may see.
        let queued = json(
            app.req(Method::GET, &format!("/api/v1/campaigns/{id}/recipients?status=queued"), &boris_token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        let queued: Vec<i64> =
            queued["items"].as_array().unwrap().iter().map(|r| r["client_id"].as_i64().unwrap()).collect();
        assert_eq!(queued, [b1]);
    }

    // The explicit audience lists only each caller's clients, alone and in the list; in order.
    assert_eq!(audience_seen(&app, explicit, &anna_token).await, (json!([a1, a2]), json!([a1, a2])));
    assert_eq!(audience_seen(&app, explicit, &boris_token).await, (json!([b1]), json!([b1])));
    let all = json!([b1, a1, admins, a2]);
    assert_eq!(audience_seen(&app, explicit, &app.admin_token).await, (all.clone(), all));
    // A segment audience names no clients, for anyone.
    assert_eq!(audience_seen(&app, by_segment, &anna_token).await, (Value::Null, Value::Null));

    // The stats count the whole audience.
    let stats =
        json(app.admin(Method::GET, &format!("/api/v1/campaigns/{explicit}/stats")).send().await.unwrap()).await;
    assert_eq!(stats["recipients"], 4);
    let res = app.req(Method::GET, &format!("/api/v1/campaigns/{explicit}/stats"), &anna_token).send().await.unwrap();
    assert_eq!(res.status(), 200);
}
