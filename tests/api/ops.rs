use reqwest::Method;

use crate::helpers::*;

#[tokio::test]
async fn health_metrics_and_docs_are_served() {
    let app = TestApp::spawn().await;
    let live = app.anon(Method::GET, "/health/live").send().await.unwrap();
    assert_eq!(json(live).await["status"], "ok");
    let ready = app.anon(Method::GET, "/health/ready").send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(ready.headers().contains_key("x-request-id"));

    app.admin(Method::GET, "/api/v1/clients").send().await.unwrap();
    let metrics = app.anon(Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/api/v1/clients",status="200"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
    assert!(metrics.contains("db_pool_max_connections 4"));

    let docs = app.anon(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().to_lowercase().contains("swagger"));
    let spec = json(app.anon(Method::GET, "/openapi.json").send().await.unwrap()).await;
    assert!(spec["paths"]["/api/v1/clients"]["get"].is_object());
}

#[tokio::test]
async fn the_committed_contract_matches_the_code() {
    let generated = clientbase::openapi::to_json(&clientbase::routes::document());
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
        .expect("openapi/openapi.json is committed");
    assert!(
        generated == committed,
        "openapi/openapi.json is stale: regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
}

fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_in_the_contract_resolves() {
    let spec: serde_json::Value =
        serde_json::from_str(&clientbase::openapi::to_json(&clientbase::routes::document())).unwrap();
    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected ref {r}"));
        assert!(spec["components"]["schemas"][name].is_object(), "dangling reference {r}");
    }
}

#[tokio::test]
async fn every_operation_is_documented_with_security_and_problems() {
    let spec: serde_json::Value =
        serde_json::from_str(&clientbase::openapi::to_json(&clientbase::routes::document())).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("500"), "{id}");
            // The token endpoint and provider callbacks authenticate otherwise.
            if path.starts_with("/api/v1/") && path != "/api/v1/auth/token" && !path.starts_with("/api/v1/providers/") {
                let scopes = &op["security"][0]["oauth2"];
                assert!(scopes.as_array().is_some_and(|s| !s.is_empty()), "{id} has no scope");
                assert!(responses.contains_key("401") && responses.contains_key("403"), "{id}");
            }
        }
    }
}

#[tokio::test]
async fn cors_lets_only_the_configured_origins_in() {
    let app = TestApp::spawn_with(|c| c.cors_origins = vec!["https://crm.example.ru".into()]).await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, app.url("/api/v1/clients"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "PATCH")
            .header("Access-Control-Request-Headers", "authorization, if-match")
            .send()
    };
    let ok = preflight("https://crm.example.ru").await.unwrap();
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://crm.example.ru");
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let res =
        app.admin(Method::GET, "/api/v1/clients").header("Origin", "https://crm.example.ru").send().await.unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "https://crm.example.ru");
    assert!(res.headers()["access-control-expose-headers"].to_str().unwrap().to_lowercase().contains("etag"));
}
