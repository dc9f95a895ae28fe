//! Checks every response the suite receives through [`Request::send`] against the committed
//! contract, `openapi/openapi.json`: the status is one the operation declares, the content type
//! one that response declares, and a JSON body validates against its schema (JSON Schema
//! 2020-12, `#/components/schemas/…` resolved within the committed document). Bodies that are
//! not JSON (CSV and NDJSON exports, metrics) are checked for status and content type only; a
//! response declared without content must come without a body.
//!
//! A response that does not match fails the test that received it, unless its operation and
//! status are listed in [`ALLOWED`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::Validator;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

/// Known mismatches between the server and the contract, as `(operation id, status)`, each with
/// what differs. Kept passing only until `src/` is fixed: this list is to be emptied.
pub const ALLOWED: &[(&str, u16, &str)] = &[];

/// Responses checked against the contract, and JSON bodies among them validated by a schema.
static CHECKED: AtomicUsize = AtomicUsize::new(0);
static VALIDATED: AtomicUsize = AtomicUsize::new(0);

pub fn checked() -> usize {
    CHECKED.load(Ordering::Relaxed)
}

pub fn validated() -> usize {
    VALIDATED.load(Ordering::Relaxed)
}

/// What the check of one response found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The response of an operation in the contract; `schema` when its JSON body was validated.
    Checked { operation: String, status: u16, schema: bool },
    /// The path (or method) is not in the contract, e.g. `/docs/` or a path the router refuses;
    /// a problem document in answer is still validated against `Problem`.
    Unlisted { schema: bool },
}

impl Outcome {
    pub fn schema_validated(&self) -> bool {
        matches!(self, Outcome::Checked { schema: true, .. } | Outcome::Unlisted { schema: true })
    }
}

/// A mismatch: which operation and status, and what differs.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub operation: String,
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "contract mismatch in {} (status {}): {}", self.operation, self.status, self.message)
    }
}

type Key = (String, u16, String);

pub struct Contract {
    doc: Value,
    /// `$defs` made of `components.schemas`, with every `$ref` pointing into them.
    defs: Value,
    /// Path templates split into segments (`None` for a `{parameter}`), with the template.
    templates: Vec<(Vec<Option<String>>, String)>,
    validators: Mutex<HashMap<Key, Arc<Validator>>>,
}

pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
        let text = std::fs::read_to_string(path).expect("read openapi/openapi.json");
        Contract::new(serde_json::from_str(&text).expect("openapi/openapi.json is JSON"))
    })
}

/// Points `#/components/schemas/X` references at `#/$defs/X`, where the validated schema keeps
/// the contract's schemas.
fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                if k == "$ref" {
                    if let Some(s) = x.as_str() {
                        if let Some(name) = s.strip_prefix("#/components/schemas/") {
                            *x = Value::String(format!("#/$defs/{name}"));
                        }
                    }
                } else {
                    rewrite_refs(x);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

fn media_matches(declared: &str, actual: &str) -> bool {
    let declared = declared.to_ascii_lowercase();
    match declared.split_once('/') {
        _ if declared == actual => true,
        Some(("*", "*")) => true,
        Some((kind, "*")) => actual.split_once('/').is_some_and(|(k, _)| k == kind),
        _ => false,
    }
}

impl Contract {
    pub fn new(doc: Value) -> Contract {
        let mut defs = doc["components"]["schemas"].clone();
        rewrite_refs(&mut defs);
        let mut templates: Vec<(Vec<Option<String>>, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(|t| {
                let segments = t
                    .trim_start_matches('/')
                    .split('/')
                    .map(|s| if s.starts_with('{') && s.ends_with('}') { None } else { Some(s.to_string()) })
                    .collect();
                (segments, t.clone())
            })
            .collect();
        templates.sort_by(|a, b| a.1.cmp(&b.1));
        Contract { doc, defs, templates, validators: Mutex::new(HashMap::new()) }
    }

    /// The template a request path falls under (the query is ignored): a literal segment wins
    /// over a parameter, as with `/api/v1/clients/duplicates` against `/api/v1/clients/{id}`.
    pub fn template(&self, path: &str) -> Option<&str> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.templates
            .iter()
            .filter(|(t, _)| {
                t.len() == segments.len()
                    && t.iter().zip(&segments).all(|(t, s)| match t {
                        Some(lit) => lit == s,
                        None => !s.is_empty(),
                    })
            })
            // Literal segments as early as possible.
            .max_by_key(|(t, _)| t.iter().map(|s| s.is_some()).collect::<Vec<_>>())
            .map(|(_, template)| template.as_str())
    }

    /// A validator of `schema`, with the contract's schemas beside it.
    pub fn validator(&self, schema: &Value) -> Result<Validator, String> {
        let mut schema = schema.clone();
        rewrite_refs(&mut schema);
        let root = serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": self.defs,
            "allOf": [schema],
        });
        jsonschema::draft202012::options().should_validate_formats(true).build(&root).map_err(|e| e.to_string())
    }

    fn cached(&self, key: Key, schema: &Value) -> Arc<Validator> {
        if let Some(v) = self.validators.lock().unwrap().get(&key) {
            return v.clone();
        }
        let built = Arc::new(
            self.validator(schema)
                .unwrap_or_else(|e| panic!("the contract's schema for {key:?} does not compile: {e}")),
        );
        self.validators.lock().unwrap().entry(key).or_insert(built).clone()
    }

    fn validate(&self, key: Key, schema: &Value, body: &[u8]) -> Result<(), String> {
        let instance: Value = serde_json::from_slice(body).map_err(|e| {
            format!("the body is not JSON ({e}): {}", String::from_utf8_lossy(&body[..body.len().min(500)]))
        })?;
        let validator = self.cached(key, schema);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .take(20)
            .map(|e| format!("at {:?} (schema {:?}): {e}", e.instance_path().to_string(), e.schema_path().to_string()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            let shown = instance.to_string();
            let shown = if shown.chars().count() > 1500 {
                format!("{}…", shown.chars().take(1500).collect::<String>())
            } else {
                shown
            };
            Err(format!("the body does not match the schema:\n  {}\nbody: {shown}", errors.join("\n  ")))
        }
    }

    /// Checks one response; `Err` names what differs from the contract.
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Outcome, Mismatch> {
        let media = content_type.map(media_type);
        let problem_schema = serde_json::json!({"$ref": "#/components/schemas/Problem"});
        let op = self
            .template(path)
            .and_then(|t| self.doc["paths"][t].get(method.as_str().to_ascii_lowercase()).map(|op| (t, op)));
        let Some((template, op)) = op else {
            // Not an operation of the contract: only a problem document can still be checked.
            if status >= 400 && media.as_deref() == Some("application/problem+json") {
                let key = ("(unlisted)".to_string(), status, "application/problem+json".to_string());
                self.validate(key, &problem_schema, body).map_err(|message| Mismatch {
                    operation: format!("{method} {path} (not in the contract)"),
                    status,
                    message,
                })?;
                return Ok(Outcome::Unlisted { schema: true });
            }
            return Ok(Outcome::Unlisted { schema: false });
        };
        let operation =
            op["operationId"].as_str().map(str::to_string).unwrap_or_else(|| format!("{method} {template}"));
        let fail = |message: String| Mismatch { operation: operation.clone(), status, message };
        let responses = &op["responses"];
        let code = status.to_string();
        let range = format!("{}XX", status / 100);
        let declared =
            responses.get(&code).or_else(|| responses.get(&range)).or_else(|| responses.get("default")).ok_or_else(
                || {
                    let listed: Vec<&String> = responses.as_object().map(|r| r.keys().collect()).unwrap_or_default();
                    fail(format!("status {status} is not declared (declared: {listed:?})"))
                },
            )?;
        let content = declared.get("content").and_then(Value::as_object).filter(|c| !c.is_empty());
        let Some(content) = content else {
            if !body.is_empty() {
                return Err(fail(format!(
                    "the response is declared without content but has a {}-byte body ({})",
                    body.len(),
                    media.as_deref().unwrap_or("no content type")
                )));
            }
            return Ok(Outcome::Checked { operation, status, schema: false });
        };
        let Some(media) = media else {
            return Err(fail(format!("no content type; declared: {:?}", content.keys().collect::<Vec<_>>())));
        };
        let Some((declared_media, entry)) = content.iter().find(|(d, _)| media_matches(d, &media)) else {
            return Err(fail(format!(
                "content type {media} is not declared; declared: {:?}",
                content.keys().collect::<Vec<_>>()
            )));
        };
        let schema = entry.get("schema").filter(|_| is_json(&media));
        let Some(schema) = schema else {
            return Ok(Outcome::Checked { operation, status, schema: false });
        };
        let key = (operation.clone(), status, declared_media.clone());
        self.validate(key, schema, body).map_err(fail)?;
        Ok(Outcome::Checked { operation, status, schema: true })
    }
}

/// A request of the suite: `reqwest::RequestBuilder`'s methods, and a [`send`](Request::send)
/// that checks the response against the contract before handing it back.
pub struct Request {
    inner: RequestBuilder,
    method: Method,
    path: String,
}

impl Request {
    pub fn new(inner: RequestBuilder, method: Method, path: &str) -> Request {
        Request { inner, method, path: path.to_string() }
    }

    fn map(self, f: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Request {
        Request { inner: f(self.inner), ..self }
    }

    pub fn json<T: serde::Serialize + ?Sized>(self, body: &T) -> Request {
        self.map(|r| r.json(body))
    }

    pub fn form<T: serde::Serialize + ?Sized>(self, form: &T) -> Request {
        self.map(|r| r.form(form))
    }

    pub fn body(self, body: impl Into<reqwest::Body>) -> Request {
        self.map(|r| r.body(body))
    }

    pub fn header<K, V>(self, key: K, value: V) -> Request
    where
        reqwest::header::HeaderName: TryFrom<K>,
        <reqwest::header::HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        reqwest::header::HeaderValue: TryFrom<V>,
        <reqwest::header::HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map(|r| r.header(key, value))
    }

    pub fn bearer_auth(self, token: impl std::fmt::Display) -> Request {
        self.map(|r| r.bearer_auth(token))
    }

    pub fn basic_auth(self, username: impl std::fmt::Display, password: Option<impl std::fmt::Display>) -> Request {
        self.map(|r| r.basic_auth(username, password))
    }

    /// Sends, reads the whole body, checks the response against the contract (panicking on a
    /// mismatch that [`ALLOWED`] does not list) and returns it rebuilt from its parts (status,
    /// version, headers and body; `Response::url` is not carried over).
    pub async fn send(self) -> reqwest::Result<Response> {
        self.send_checked().await.map(|(res, _)| res)
    }

    /// [`send`](Request::send), also returning what the check found.
    pub async fn send_checked(self) -> reqwest::Result<(Response, Outcome)> {
        let (method, path) = (self.method, self.path);
        let res = self.inner.send().await?;
        let (status, version, headers) = (res.status(), res.version(), res.headers().clone());
        let body = res.bytes().await?;
        let content_type = headers.get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let outcome = match contract().check(&method, &path, status.as_u16(), content_type, &body) {
            Ok(outcome) => outcome,
            Err(m) if ALLOWED.iter().any(|(op, s, _)| *op == m.operation && *s == m.status) => {
                Outcome::Checked { operation: m.operation, status: m.status, schema: false }
            }
            Err(m) => panic!("{method} {path}: {m}"),
        };
        CHECKED.fetch_add(1, Ordering::Relaxed);
        if outcome.schema_validated() {
            VALIDATED.fetch_add(1, Ordering::Relaxed);
        }
        let mut rebuilt = http::Response::builder().status(status).version(version);
        *rebuilt.headers_mut().expect("a fresh builder") = headers;
        Ok((Response::from(rebuilt.body(body).expect("the parts of a response")), outcome))
    }
}

mod checks {
    use serde_json::json;

    use super::*;
    use crate::helpers::*;

    const PROBLEM: &str = "application/problem+json";

    #[test]
    fn paths_fall_under_their_templates() {
        let c = contract();
        assert_eq!(c.template("/api/v1/clients/42"), Some("/api/v1/clients/{id}"));
        assert_eq!(c.template("/api/v1/clients/42?fields=name"), Some("/api/v1/clients/{id}"));
        assert_eq!(c.template("/api/v1/clients/duplicates"), Some("/api/v1/clients/duplicates"));
        assert_eq!(c.template("/api/v1/clients/export?format=csv"), Some("/api/v1/clients/export"));
        assert_eq!(
            c.template("/api/v1/webhooks/3/deliveries/9/redeliver"),
            Some("/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver")
        );
        assert_eq!(c.template("/api/v1/clients/"), None);
        assert_eq!(c.template("/api/v2/clients"), None);
    }

    #[test]
    fn the_validator_refuses_what_the_contract_does_not_declare() {
        let c = contract();
        let get = Method::GET;
        let problem = br#"{"type": "/problems/not-found", "title": "Not found", "status": 404}"#;
        let checked = c.check(&get, "/api/v1/clients/7", 404, Some(PROBLEM), problem).unwrap();
        assert_eq!(checked, Outcome::Checked { operation: "get_client".into(), status: 404, schema: true });

        // A body of the wrong shape: a required field missing, a field of the wrong type.
        let wrong = c.check(&get, "/api/v1/clients/7", 404, Some(PROBLEM), br#"{"type": "x", "status": "404"}"#);
        let wrong = wrong.unwrap_err();
        assert_eq!((wrong.operation.as_str(), wrong.status), ("get_client", 404));
        assert!(wrong.message.contains("title") && wrong.message.contains("/status"), "{}", wrong.message);
        let card = json!({"id": 1, "kind": "company", "roles": ["client"], "name": "X", "status": "active", "tags": [],
            "custom_fields": {}, "external_ids": {}, "phones": [], "emails": [], "addresses": [],
            "mailing_consent": false, "purchases": {"purchase_count": 0, "revenue": "0", "margin": "0"}, "version": 1,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"});
        let check_card = |card: &Value| {
            c.check(&get, "/api/v1/clients/7", 200, Some("application/json"), card.to_string().as_bytes())
        };
        assert!(check_card(&card).unwrap().schema_validated());
        let mut wrong_id = card.clone();
        wrong_id["id"] = json!("seven");
        let wrong = check_card(&wrong_id).unwrap_err();
        assert!(wrong.message.contains("at \"/id\""), "{}", wrong.message);
        // A date that is not a date-time is refused too: formats are asserted.
        let mut wrong_date = card.clone();
        wrong_date["created_at"] = json!("yesterday");
        let wrong = check_card(&wrong_date).unwrap_err();
        assert!(wrong.message.contains("at \"/created_at\""), "{}", wrong.message);
        // In a page, and a value outside an enumeration.
        let mut wrong_kind = card.clone();
        wrong_kind["kind"] = json!("robot");
        let page = json!({"items": [card.clone(), wrong_kind], "next_cursor": null});
        let wrong = c.check(&get, "/api/v1/clients", 200, Some("application/json"), page.to_string().as_bytes());
        assert!(wrong.unwrap_err().message.contains("at \"/items/1/kind\""));
        assert!(c.check(&get, "/api/v1/clients/7", 200, Some("application/json"), b"{not json").is_err());

        // A status the operation does not declare, a content type the response does not declare.
        let teapot = c.check(&get, "/api/v1/clients/7", 418, Some(PROBLEM), problem).unwrap_err();
        assert!(teapot.message.contains("418 is not declared"), "{}", teapot.message);
        let html = c.check(&get, "/api/v1/clients/7", 200, Some("text/html; charset=utf-8"), b"<p>").unwrap_err();
        assert!(html.message.contains("text/html"), "{}", html.message);
        assert!(c.check(&get, "/api/v1/clients/7", 200, None, b"{}").is_err());
        // A 204 declared without content must have none.
        let delete = Method::DELETE;
        let empty = c.check(&delete, "/api/v1/clients/7", 204, None, b"").unwrap();
        assert_eq!(empty, Outcome::Checked { operation: "delete_client".into(), status: 204, schema: false });
        assert!(c.check(&delete, "/api/v1/clients/7", 204, Some("application/json"), b"{}").is_err());

        // A CSV export is checked for its status and content type only.
        let csv = c.check(&get, "/api/v1/clients/export?format=csv", 200, Some("text/csv; charset=utf-8"), b"id\n1\n");
        assert_eq!(csv.unwrap(), Outcome::Checked { operation: "export_clients".into(), status: 200, schema: false });
        // Outside the contract only a problem document can be checked, and it is.
        assert_eq!(
            c.check(&get, "/docs/", 200, Some("text/html"), b"<html>").unwrap(),
            Outcome::Unlisted { schema: false }
        );
        assert_eq!(c.check(&get, "/nowhere", 404, Some(PROBLEM), problem).unwrap(), Outcome::Unlisted { schema: true });
        assert!(c.check(&get, "/nowhere", 404, Some(PROBLEM), b"{}").is_err());
    }

    #[test]
    fn every_schema_of_the_contract_compiles() {
        let c = contract();
        for name in c.doc["components"]["schemas"].as_object().unwrap().keys() {
            let schema = json!({"$ref": format!("#/components/schemas/{name}")});
            c.validator(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[tokio::test]
    async fn the_suite_checks_the_responses_it_receives() {
        let app = TestApp::spawn().await;
        let before = validated();
        let id = app.client(json!({"name": "Проверка"})).await["id"].as_i64().unwrap();
        let (res, outcome) = app.admin(Method::GET, &format!("/api/v1/clients/{id}")).send_checked().await.unwrap();
        assert_eq!(outcome, Outcome::Checked { operation: "get_client".into(), status: 200, schema: true });
        // The response handed back is the one received: status, headers and body.
        assert_eq!(res.status(), 200);
        assert!(res.headers().contains_key("etag"));
        assert_eq!(json(res).await["id"], id);

        let (res, outcome) = app.admin(Method::GET, "/api/v1/clients/999999").send_checked().await.unwrap();
        assert_eq!(outcome, Outcome::Checked { operation: "get_client".into(), status: 404, schema: true });
        problem(res, 404).await;
        let (res, outcome) = app.admin(Method::GET, "/api/v1/clients/export?format=csv").send_checked().await.unwrap();
        assert_eq!(outcome, Outcome::Checked { operation: "export_clients".into(), status: 200, schema: false });
        assert!(res.text().await.unwrap().contains("Проверка"));
        let (_, outcome) = app.admin(Method::DELETE, &format!("/api/v1/clients/{id}")).send_checked().await.unwrap();
        assert_eq!(outcome, Outcome::Checked { operation: "delete_client".into(), status: 204, schema: false });
        // The create, the card and the problem at least (other tests count alongside).
        assert!(validated() >= before + 3, "{} validated before, {} after", before, validated());
        assert!(checked() >= validated());
    }
}
