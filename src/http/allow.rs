//! Which methods each path answers, read off the OpenAPI document, so that a request no route
//! took gets 405 with `Allow` when its path exists under another method (RFC 9110 §15.5.6), and
//! 404 only when the path itself is unknown.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse};

use crate::error::ApiError;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The path templates of the contract with the methods each declares.
#[derive(Debug, Default)]
pub struct MethodTable {
    templates: Vec<(Vec<Segment>, String)>,
}

#[derive(Debug, PartialEq)]
enum Segment {
    Literal(String),
    Parameter,
}

impl MethodTable {
    /// Reads the `paths` of an OpenAPI document in its JSON form.
    pub fn from_openapi_json(json: &str) -> MethodTable {
        let doc: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
            return MethodTable::default();
        };
        let templates = paths
            .iter()
            .map(|(path, item)| {
                let allow: Vec<String> = METHODS
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .flat_map(|m| match *m {
                        "get" => vec!["GET".to_string(), "HEAD".to_string()],
                        other => vec![other.to_ascii_uppercase()],
                    })
                    .chain(std::iter::once("OPTIONS".to_string()))
                    .collect();
                (segments(path), allow.join(", "))
            })
            .collect();
        MethodTable { templates }
    }

    /// The `Allow` value of the template `path` matches, preferring the one with the most literal
    /// segments (`/clients/duplicates` over `/clients/{id}`), as the router does.
    pub fn allow(&self, path: &str) -> Option<&str> {
        let parts: Vec<&str> = path.split('/').collect();
        self.templates
            .iter()
            .filter(|(template, _)| {
                template.len() == parts.len()
                    && template.iter().zip(&parts).all(|(segment, part)| match segment {
                        Segment::Literal(text) => text == part,
                        Segment::Parameter => !part.is_empty(),
                    })
            })
            .max_by_key(|(template, _)| template.iter().filter(|s| matches!(s, Segment::Literal(_))).count())
            .map(|(_, allow)| allow.as_str())
    }

    /// The answer to a request no route took: `OPTIONS` on a known path lists its methods, any
    /// other method there is 405; TRACE and CONNECT are 405 everywhere; the rest is 404.
    pub fn answer(&self, req: &HttpRequest) -> Result<HttpResponse, ApiError> {
        let allow = self.allow(req.path());
        match (allow, req.method()) {
            (Some(allow), &Method::OPTIONS) => {
                Ok(HttpResponse::NoContent().insert_header((header::ALLOW, allow)).finish())
            }
            (Some(allow), _) => Err(ApiError::MethodNotAllowed { allow: allow.to_string() }),
            (None, &Method::TRACE | &Method::CONNECT) => Err(ApiError::MethodNotAllowed { allow: String::new() }),
            (None, _) => Err(ApiError::NotFound),
        }
    }
}

/// HEAD is GET without the body (RFC 9110 §9.3.2): it is routed as GET, and the HTTP layer,
/// which read a HEAD, sends the headers alone.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

fn segments(path: &str) -> Vec<Segment> {
    path.split('/')
        .map(
            |s| {
                if s.starts_with('{') && s.ends_with('}') {
                    Segment::Parameter
                } else {
                    Segment::Literal(s.to_string())
                }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> MethodTable {
        MethodTable::from_openapi_json(
            r#"{"paths": {
                "/api/v1/clients": {"get": {}, "post": {}},
                "/api/v1/clients/{id}": {"get": {}, "patch": {}, "delete": {}, "parameters": []},
                "/api/v1/clients/duplicates": {"get": {}}
            }}"#,
        )
    }

    #[test]
    fn the_most_literal_template_wins() {
        let t = table();
        assert_eq!(t.allow("/api/v1/clients"), Some("GET, HEAD, POST, OPTIONS"));
        assert_eq!(t.allow("/api/v1/clients/"), None);
        assert_eq!(t.allow("/api/v1/clients/7"), Some("GET, HEAD, PATCH, DELETE, OPTIONS"));
        assert_eq!(t.allow("/api/v1/clients/duplicates"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(t.allow("/api/v1/clients/7/x"), None);
        assert_eq!(t.allow("/nothing"), None);
    }
}
