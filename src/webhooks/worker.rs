//! The delivery worker that runs inside every server process: claims due deliveries, sends them
//! signed, and records each outcome. It wakes when a transaction commits and otherwise polls, so
//! a fresh event leaves within a fraction of a second and other replicas' events are not missed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use chrono::{TimeDelta, Utc};
use tokio::sync::watch;

use super::deliveries::{self, DeliveryRow, Outcome};
use super::{signing, WebhookRow};
use crate::db::{self, now};
use crate::http::ssrf::{self, GuardedResolver};
use crate::state::AppState;

const BATCH: i64 = 8;
const POLL: Duration = Duration::from_millis(250);
const RESPONSE_CAP: usize = 64 * 1024;
const EXCERPT: usize = 500;

/// The HTTP client deliveries go out with: no redirects, no proxies, bounded time, and a
/// resolver that refuses private addresses.
pub fn client(config: &crate::config::Config) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(config.webhook_timeout_secs))
        .connect_timeout(Duration::from_secs(config.webhook_timeout_secs.min(5)))
        .user_agent(concat!("clientbase-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver { allow: Arc::new(config.webhook_allowed.clone()) }))
        .build()
        .expect("the webhook HTTP client builds")
}

/// Runs until `stop` turns true; in-flight deliveries finish first.
pub async fn run(state: web::Data<AppState>, mut stop: watch::Receiver<bool>) {
    let http = client(&state.config);
    // An attempt cannot outlast the timeout; the margin covers recording its outcome.
    let lease = TimeDelta::seconds(state.config.webhook_timeout_secs as i64 + 5);
    loop {
        if *stop.borrow() {
            return;
        }
        let claimed = db::run(&state.pool, move |conn| Ok(deliveries::claim(conn, BATCH, now() + lease)?)).await;
        match claimed {
            Ok(batch) if !batch.is_empty() => {
                let sends = batch.into_iter().map(|(d, w)| {
                    let http = http.clone();
                    let state = state.clone();
                    async move {
                        let outcome = send(&http, &d, &w, &state.config.webhook_allowed).await;
                        let schedule = state.config.webhook_retry_schedule.clone();
                        if let Err(e) =
                            db::run(&state.pool, move |conn| Ok(deliveries::record(conn, &d, &outcome, &schedule)?))
                                .await
                        {
                            tracing::warn!(error = %e, "could not record a webhook delivery");
                        }
                    }
                });
                futures_util::future::join_all(sends).await;
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not claim webhook deliveries"),
        }
        tokio::select! {
            _ = db::committed().notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One attempt: sign, POST, read at most 64 KiB of the answer.
pub async fn send(http: &reqwest::Client, d: &DeliveryRow, w: &WebhookRow, allow: &ssrf::AllowList) -> Outcome {
    let started = Instant::now();
    let failed = |error: String| Outcome {
        status: None,
        excerpt: None,
        error: Some(error),
        duration_ms: started.elapsed().as_millis() as i32,
        retry_after_secs: None,
    };
    let url = match reqwest::Url::parse(&w.url) {
        Ok(u) if ssrf::literal_ok(&u, allow) => u,
        Ok(_) => return failed("the endpoint's address is private or loopback and not allowed".into()),
        Err(_) => return failed("the endpoint URL is invalid".into()),
    };
    let timestamp = Utc::now().timestamp();
    let signature = signing::header(&w.signing_secrets(now()), &d.message_id, timestamp, d.payload.as_bytes());
    let result = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone())
        .send()
        .await;
    let mut res = match result {
        Ok(r) => r,
        // Without the URL: it may carry a token of the receiver's.
        Err(e) => return failed(e.without_url().to_string()),
    };
    let status = res.status().as_u16();
    let retry_after_secs = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(retry_after);
    let mut body: Vec<u8> = Vec::new();
    while body.len() < RESPONSE_CAP {
        match res.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(RESPONSE_CAP - body.len())]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&body);
    Outcome {
        status: Some(status),
        excerpt: Some(text.chars().take(EXCERPT).collect()),
        error: None,
        duration_ms: started.elapsed().as_millis() as i32,
        retry_after_secs,
    }
}

/// `Retry-After` as seconds (a number or an HTTP date), at most a day.
fn retry_after(value: &str) -> Option<u64> {
    let secs = match value.trim().parse::<u64>() {
        Ok(s) => s,
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
            (at.with_timezone(&Utc) - Utc::now()).num_seconds().max(0) as u64
        }
    };
    Some(secs.min(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_dates() {
        assert_eq!(retry_after("120"), Some(120));
        assert_eq!(retry_after("999999"), Some(86_400));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(retry_after("soon"), None);
    }
}
