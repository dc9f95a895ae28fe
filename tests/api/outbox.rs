//! The outbox survives a crash: the real binary is killed mid-delivery and started again.

use std::process::{Child, Command};
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;
use crate::receiver::{Receiver, Reply};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(database_url: &str, data_dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clientbase"));
    for (key, _) in std::env::vars() {
        if key.starts_with("CLIENTBASE_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("CLIENTBASE_BIND", format!("127.0.0.1:{port}"))
        .env("CLIENTBASE_DATA_DIR", data_dir)
        .env("CLIENTBASE_JWT_SECRET", JWT_SECRET)
        .env("CLIENTBASE_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("CLIENTBASE_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CLIENTBASE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
        .env("CLIENTBASE_WEBHOOK_TIMEOUT_SECS", "2")
        .env("CLIENTBASE_WEBHOOK_RETRY_SCHEDULE", "1,1,1")
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{base}/health/ready")).send().await.is_ok_and(|r| r.status() == 200) {
            return Server { child, base };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not start");
}

async fn login(http: &reqwest::Client, base: &str) -> String {
    let res = http
        .post(format!("{base}/api/v1/auth/token"))
        .form(&[("grant_type", "password"), ("username", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    json(res).await["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_killed_server_sends_its_pending_deliveries_after_restart() {
    let receiver = Receiver::start().await;
    // The first delivery hangs: the server is killed while it waits for the answer.
    receiver.script([Reply::Hang(Duration::from_secs(30))]);
    let (_db, url) = TestDb::create();
    let dir = std::env::temp_dir().join(format!("clientbase-outbox-{}", uuid::Uuid::new_v4().simple()));
    let http = reqwest::Client::new();

    let first = start(&url, &dir).await;
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

    let second = start(&url, &dir).await;
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
