//! The HTTP kernel shared by the handlers: ETags and `If-Match`, created responses, and (in
//! `extract`) the request extractors that turn malformed input into precise problems.

pub mod allow;
pub mod deadline;
pub mod expect;
pub mod extract;
pub mod protocol;
pub mod rate_limit;
pub mod ssrf;
pub mod upload;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::error::ApiError;

/// The strong ETag of a versioned row.
pub fn etag(id: i64, version: i64) -> String {
    format!("\"{id}-{version}\"")
}

/// The version `If-Match` requires, if the header is present. `*` matches any version; a tag for
/// another resource or an unparsable one can never match, so it fails with 412.
pub fn if_match(req: &HttpRequest, id: i64) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::PreconditionFailed)?.trim();
    if value == "*" {
        return Ok(None);
    }
    for tag in value.split(',') {
        let tag = tag.trim().trim_start_matches("W/").trim_matches('"');
        if let Some((tag_id, version)) = tag.split_once('-') {
            if tag_id.parse::<i64>().ok() == Some(id) {
                if let Ok(v) = version.parse::<i64>() {
                    return Ok(Some(v));
                }
            }
        }
    }
    Err(ApiError::PreconditionFailed)
}

/// 200 with the body and its ETag.
pub fn ok_tagged(body: &impl Serialize, id: i64, version: i64) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::ETAG, etag(id, version))).json(body)
}

/// 201 with the body, its ETag and `Location`.
pub fn created(body: &impl Serialize, location: String, id: i64, version: i64) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .insert_header((header::ETAG, etag(id, version)))
        .json(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn if_match_parses_our_tags_only() {
        let req = TestRequest::default().insert_header((header::IF_MATCH, "\"5-3\"")).to_http_request();
        assert_eq!(if_match(&req, 5).unwrap(), Some(3));
        assert!(if_match(&req, 6).is_err());
        let any = TestRequest::default().insert_header((header::IF_MATCH, "*")).to_http_request();
        assert_eq!(if_match(&any, 5).unwrap(), None);
        let none = TestRequest::default().to_http_request();
        assert_eq!(if_match(&none, 5).unwrap(), None);
        let junk = TestRequest::default().insert_header((header::IF_MATCH, "\"abc\"")).to_http_request();
        assert!(if_match(&junk, 5).is_err());
    }
}
