use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use clientbase::auth::jwt::{JwtKeys, Subject};
use clientbase::auth::scopes::{Role, Scope, ScopeSet};
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

async fn password_token(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.anon(Method::POST, "/api/v1/auth/token")
        .form(&[("grant_type", "password"), ("username", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn password_grant_issues_a_working_token() {
    let app = TestApp::spawn().await;
    let res = password_token(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = json(res).await;
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    assert!(body["scope"].as_str().unwrap().split(' ').any(|s| s == "users:manage"));
    let token = body["access_token"].as_str().unwrap();
    let res = app.req(Method::GET, "/api/v1/clients", token).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // JSON bodies are accepted too, and a narrower scope can be asked for.
    let res = app.anon(Method::POST, "/api/v1/auth/token")
        .json(&json!({"grant_type": "password", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "scope": "clients:read"}))
        .send()
        .await
        .unwrap();
    let body = json(res).await;
    assert_eq!(body["scope"], "clients:read");
    let narrow = body["access_token"].as_str().unwrap();
    let res = app.req(Method::GET, "/api/v1/users", narrow).send().await.unwrap();
    problem(res, 403).await;
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_throttled() {
    let app = TestApp::spawn().await;
    let res = password_token(&app, ADMIN_EMAIL, "wrong-password").await;
    let p = problem(res, 400).await;
    assert_eq!(p["error"], "invalid_grant");
    for _ in 0..4 {
        password_token(&app, ADMIN_EMAIL, "wrong-password").await;
    }
    // Even the right password waits now: the account is locked for a while.
    let res = password_token(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 900);
    problem(res, 429).await;
}

/// A password login from `source`, a loopback address of this machine other than 127.0.0.1
/// when the test needs a second client address.
async fn login_from(app: &TestApp, source: &str, email: &str, password: &str) -> reqwest::Response {
    let http = reqwest::Client::builder().local_address(source.parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    http.post(app.url("/api/v1/auth/token"))
        .form(&[("grant_type", "password"), ("username", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_spelling_of_a_locked_login_is_locked_too() {
    let app = TestApp::spawn().await;
    // Five wrong guesses spread over spellings of one account are five guesses at it.
    for spelling in
        [" admin@example.ru", "admin@example.ru ", "\tADMIN@example.ru", "Admin@Example.ru", "admin@example.ru\n"]
    {
        let res = password_token(&app, spelling, "wrong-password").await;
        assert_eq!(res.status(), 400, "{spelling:?}");
    }
    for spelling in [ADMIN_EMAIL, " admin@example.ru", "admin@example.ru ", "\tadmin@example.ru"] {
        let res = password_token(&app, spelling, ADMIN_PASSWORD).await;
        assert_eq!(res.status(), 429, "{spelling:?} with the right password");
    }
}

#[tokio::test]
async fn the_lock_holds_on_every_replica_and_after_a_restart() {
    let app = TestApp::spawn().await;
    let replica = app.replica().await;
    for _ in 0..3 {
        assert_eq!(password_token(&app, ADMIN_EMAIL, "wrong-password").await.status(), 400);
    }
    for _ in 0..2 {
        assert_eq!(password_token(&replica, ADMIN_EMAIL, "wrong-password").await.status(), 400);
    }
    assert_eq!(password_token(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 429);
    assert_eq!(password_token(&replica, ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 429);
    // A server started afresh over the same database still knows.
    drop(replica);
    let restarted = app.replica().await;
    assert_eq!(password_token(&restarted, ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn a_locked_account_opens_slowly_to_its_password_from_a_clean_address() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        password_token(&app, ADMIN_EMAIL, "wrong-password").await;
    }
    assert_eq!(login_from(&app, "127.0.0.1", ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 429);
    // The administrator, elsewhere, still logs in, after the delay.
    let started = std::time::Instant::now();
    let res = login_from(&app, "127.0.0.2", ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "{:?}", started.elapsed());
    // That success did not lift the lock for the guessing address, and a wrong guess from the
    // clean address makes it one that must wait too.
    assert_eq!(login_from(&app, "127.0.0.1", ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 429);
    assert_eq!(login_from(&app, "127.0.0.3", ADMIN_EMAIL, "wrong-password").await.status(), 400);
    assert_eq!(login_from(&app, "127.0.0.3", ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn the_unlock_command_clears_a_locked_account() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        password_token(&app, ADMIN_EMAIL, "wrong-password").await;
    }
    assert_eq!(password_token(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 429);
    let dir = std::env::temp_dir().join(format!("clientbase-cli-{}", uuid::Uuid::new_v4().simple()));
    let out = crate::cli::clientbase()
        .env("DATABASE_URL", &app.state.config.database_url)
        .env("CLIENTBASE_DATA_DIR", &dir)
        .args(["user", "unlock", " Admin@Example.ru"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unlocked admin@example.ru (5 failed attempts cleared)"));
    assert_eq!(password_token(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn unknown_grant_types_and_bad_bodies_are_4xx() {
    let app = TestApp::spawn().await;
    let res = app.anon(Method::POST, "/api/v1/auth/token").form(&[("grant_type", "implicit")]).send().await.unwrap();
    assert_eq!(problem(res, 400).await["error"], "unsupported_grant_type");
    let res = app
        .anon(Method::POST, "/api/v1/auth/token")
        .header("content-type", "text/plain")
        .body("grant_type=password")
        .send()
        .await
        .unwrap();
    problem(res, 415).await;
    let res = app
        .anon(Method::POST, "/api/v1/auth/token")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(res, 400).await;
}

#[tokio::test]
async fn client_credentials_work_until_revoked() {
    let app = TestApp::spawn().await;
    let res = app
        .admin(Method::POST, "/api/v1/api-clients")
        .json(&json!({"name": "1C exchange", "scopes": ["sync:write", "clients:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created = json(res).await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    // The secret is stored hashed and never shown again.
    let listed = json(app.admin(Method::GET, "/api/v1/api-clients").send().await.unwrap()).await;
    assert!(listed.to_string().find(&secret).is_none());
    assert_eq!(listed[0]["scopes"], json!(["clients:read", "sync:write"]));

    let res = app
        .anon(Method::POST, "/api/v1/auth/token")
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let body = json(res).await;
    assert_eq!(body["scope"], "clients:read sync:write");
    let token = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.req(Method::GET, "/api/v1/clients", &token).send().await.unwrap().status(), 200);
    let res = app.req(Method::POST, "/api/v1/clients", &token).json(&json!({"name": "X"})).send().await.unwrap();
    problem(res, 403).await;

    let res = app
        .anon(Method::POST, "/api/v1/auth/token")
        .form(&[("grant_type", "client_credentials"), ("client_id", &client_id), ("client_secret", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res, 401).await["error"], "invalid_client");

    let id = created["id"].as_i64().unwrap();
    let res = app.admin(Method::POST, &format!("/api/v1/api-clients/{id}/revoke")).send().await.unwrap();
    assert!(json(res).await["revoked_at"].is_string());
    let res = app.req(Method::GET, "/api/v1/clients", &token).send().await.unwrap();
    problem(res, 401).await;
}

#[tokio::test]
async fn api_clients_cannot_be_given_user_management() {
    let app = TestApp::spawn().await;
    let res = app
        .admin(Method::POST, "/api/v1/api-clients")
        .json(&json!({"name": "evil", "scopes": ["users:manage"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["scopes"]);
    let res = app
        .admin(Method::POST, "/api/v1/api-clients")
        .json(&json!({"name": "typo", "scopes": ["clients:reed"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(fields(&problem(res, 422).await), ["scopes[0]"]);
}

fn forge(header: &str, claims: serde_json::Value, key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let h = URL_SAFE_NO_PAD.encode(header);
    let c = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{h}.{c}").as_bytes());
    format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn bad_tokens_get_401_with_a_challenge() {
    let app = TestApp::spawn().await;
    let now = jsonwebtoken::get_current_timestamp();
    let claims = |exp: u64, aud: &str| json!({"sub": format!("user:{}", app.admin_id), "iss": "clientbase", "aud": aud, "exp": exp, "iat": now, "jti": "x", "scope": "clients:read"});
    let good_header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let valid = forge(good_header, claims(now + 600, "clientbase-api"), JWT_SECRET.as_bytes());
    assert_eq!(app.req(Method::GET, "/api/v1/clients", &valid).send().await.unwrap().status(), 200);

    let unsigned = {
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let c = URL_SAFE_NO_PAD.encode(claims(now + 600, "clientbase-api").to_string());
        format!("{h}.{c}.")
    };
    let cases = [
        ("unsigned", unsigned),
        ("expired", forge(good_header, claims(now - 3600, "clientbase-api"), JWT_SECRET.as_bytes())),
        ("wrong audience", forge(good_header, claims(now + 600, "other"), JWT_SECRET.as_bytes())),
        ("wrong key", forge(good_header, claims(now + 600, "clientbase-api"), b"another-secret-another-secret-0000")),
        ("HS512", forge(r#"{"alg":"HS512","typ":"JWT"}"#, claims(now + 600, "clientbase-api"), JWT_SECRET.as_bytes())),
        ("tampered", {
            let mut parts: Vec<String> = valid.split('.').map(String::from).collect();
            parts[1] = URL_SAFE_NO_PAD
                .encode(claims(now + 600, "clientbase-api").to_string().replace("clients:read", "users:manage"));
            parts.join(".")
        }),
        ("garbage", "not-a-jwt".to_string()),
    ];
    for (name, token) in cases {
        let res = app.req(Method::GET, "/api/v1/clients", &token).send().await.unwrap();
        assert_eq!(res.status(), 401, "{name}");
        let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_string();
        assert!(challenge.starts_with("Bearer"), "{name}: {challenge}");
        problem(res, 401).await;
    }
    let res = app.anon(Method::GET, "/api/v1/clients").send().await.unwrap();
    assert!(res.headers().contains_key("www-authenticate"));
    problem(res, 401).await;

    // Another issuer's keys, even with our secret, do not pass.
    let other = JwtKeys::new(JWT_SECRET.as_bytes(), "someone-else", "clientbase-api", 60);
    let token = other.issue(&Subject::User(app.admin_id), ScopeSet::all()).unwrap();
    problem(app.req(Method::GET, "/api/v1/clients", &token).send().await.unwrap(), 401).await;
}

#[tokio::test]
async fn missing_scope_is_403_naming_it() {
    let app = TestApp::spawn().await;
    let token = app.token(Subject::User(app.admin_id), ScopeSet::of(&[Scope::ClientsRead]));
    let res = app.req(Method::POST, "/api/v1/clients", &token).json(&json!({"name": "X"})).send().await.unwrap();
    assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    let p = problem(res, 403).await;
    assert!(p["detail"].as_str().unwrap().contains("clients:write"));
}

#[tokio::test]
async fn deactivated_users_tokens_stop_working_and_demotion_takes_effect() {
    let app = TestApp::spawn().await;
    let (id, token) = app.user(Role::Supervisor, "sup@example.ru");
    // Demote to manager: the old token loses the supervisor's extra scopes at once.
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/users/{id}"))
        .json(&json!({"role": "manager"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app.req(Method::DELETE, "/api/v1/clients/1", &token).send().await.unwrap();
    problem(res, 403).await;
    let res = app.admin(Method::POST, &format!("/api/v1/users/{id}/deactivate")).send().await.unwrap();
    assert_eq!(json(res).await["user"]["active"], false);
    let res = app.req(Method::GET, "/api/v1/clients", &token).send().await.unwrap();
    problem(res, 401).await;
    // And the password no longer yields a token.
    let res = password_token(&app, "sup@example.ru", PASSWORD).await;
    assert_eq!(problem(res, 400).await["error"], "invalid_grant");
}

#[tokio::test]
async fn deactivation_and_demotion_reach_another_replica_within_a_second() {
    let app = TestApp::spawn().await;
    let replica = app.replica().await;
    let (id, token) = app.user(Role::Supervisor, "sup@example.ru");
    // The replica has the subject's standing cached from a request just made.
    let res = replica.req(Method::GET, "/api/v1/clients", &token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .admin(Method::PATCH, &format!("/api/v1/users/{id}"))
        .json(&json!({"role": "manager"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let res = replica.req(Method::GET, "/api/v1/clients/export", &token).send().await.unwrap();
    problem(res, 403).await;

    let res = replica.req(Method::GET, "/api/v1/clients", &token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app.admin(Method::POST, &format!("/api/v1/users/{id}/deactivate")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let res = replica.req(Method::GET, "/api/v1/clients", &token).send().await.unwrap();
    problem(res, 401).await;
}
