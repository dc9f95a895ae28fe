//! The outbox survives a crash: the real binary is killed mid-delivery and started again.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;
use crate::receiver::{Receiver, Reply};

#[tokio::test]
async fn a_killed_server_sends_its_pending_deliveries_after_restart() {
    let receiver = Receiver::start().await;
    // The first delivery hangs: the server is killed while it waits for the answer.
    receiver.script([Reply::Hang(Duration::from_secs(30))]);
    let (_db, url) = TestDb::create();
    let dir = std::env::temp_dir().join(format!("clientbase-outbox-{}", uuid::Uuid::new_v4().simple()));
    let http = reqwest::Client::new();

    let first = start(&url, &dir, &[]).await;
    let token = login(&http, &first.base).await;
    let res = http
        .post(format!("{}/api/v1/webhooks", first.base))
        .bearer_auth(&token)
        .json(&json!({"name": "crm-listener", "url": receiver.url, "event_types": ["client.created"]}))
        .send()
        .await
        .unwrap();
    let hook = json(res).await;
    let res = http
        .post(format!("{}/api/v1/clients", first.base))
        .bearer_auth(&token)
        .json(&json!({"name": "Ромашка"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let got = receiver.wait_for(1, 5).await;
    assert_eq!(got.len(), 1);
    drop(first); // SIGKILL mid-delivery: no answer was recorded.

    let second = start(&url, &dir, &[]).await;
    let got = receiver.wait_for(2, 20).await;
    assert_eq!(got.len(), 2, "the pending delivery was not sent after the restart");
    assert_eq!(got[1].id(), got[0].id(), "the retry keeps the webhook-id");
    assert_eq!(got[1].body, got[0].body);
    let token = login(&http, &second.base).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let page = json(
            http.get(format!("{}/api/v1/webhooks/{}/deliveries", second.base, hook["id"]))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if page["items"][0]["status"] == "delivered" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(second);
    let _ = std::fs::remove_dir_all(dir);
}
