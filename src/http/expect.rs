//! `Expect: 100-continue`: a client asks whether a body will be taken before sending it. One
//! whose declared `Content-Length` is over the route's limit is answered 413 at once, so it
//! never sends the body (the HTTP layer would otherwise say `100 Continue` to anything).

use actix_web::HttpMessage;

use crate::error::ApiError;

/// The body limits by route: uploads (imports) take files, everything else takes JSON.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub json: usize,
    pub uploads: usize,
}

impl BodyLimits {
    pub fn for_path(&self, path: &str) -> usize {
        let uploads = path == "/api/v1/imports" || path.starts_with("/api/v1/imports/");
        if uploads {
            self.uploads
        } else {
            self.json
        }
    }
}

/// The HTTP layer's expect handler: the request goes on (and gets `100 Continue`) unless its
/// declared body is too large for its route.
pub async fn check(req: actix_http::Request, limits: BodyLimits) -> Result<actix_http::Request, actix_web::Error> {
    let limit = limits.for_path(req.uri().path());
    match super::extract::declared_length(req.headers()) {
        Some(declared) if declared > limit => {
            Err(ApiError::PayloadTooLarge(format!("the request body is larger than {limit} bytes")).into())
        }
        _ => Ok(req),
    }
}
