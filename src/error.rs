//! The one error type of the API and its RFC 9457 `application/problem+json` rendering.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// Path of the field in the request, e.g. `phones[0].number` or the query parameter name.
    pub field: String,
    pub message: String,
}

/// An RFC 9457 problem document; every error response of the API has this shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Present on validation problems: one entry per invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// OAuth 2.0 error code on token endpoint problems (`invalid_grant`, `invalid_client`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On a merged client: the id of the client it was merged into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid query parameters")]
    BadQuery(Vec<FieldError>),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{detail}")]
    OAuth { status: StatusCode, error: &'static str, detail: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("this token lacks the scope {0}")]
    MissingScope(&'static str),
    #[error("the resource does not exist")]
    NotFound,
    /// The path exists, not with this method; `allow` lists the methods it has.
    #[error("this path does not answer this method; see Allow")]
    MethodNotAllowed { allow: String },
    #[error("client {id} was merged into client {survivor}")]
    Merged { id: i64, survivor: i64 },
    #[error("{0}")]
    Conflict(String),
    #[error("the resource was changed since it was read; fetch it again")]
    PreconditionFailed,
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body did not arrive in time; the connection is closed after the answer.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request head is over the size the server reads (431).
    #[error("{0}")]
    HeadersTooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: u64 },
    #[error("the service is temporarily unavailable")]
    Unavailable,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(cause.to_string())
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldError { field: field.into(), message: message.into() }])
    }

    /// A query parameter the server cannot use (400, naming the parameter).
    pub fn query(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::BadQuery(vec![FieldError { field: field.into(), message: message.into() }])
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Validation(_) => ("validation", "Invalid request"),
            ApiError::BadRequest(_) => ("bad-request", "Bad request"),
            ApiError::BadQuery(_) => ("invalid-query", "Invalid query parameters"),
            ApiError::Unauthorized(_) => ("unauthorized", "Authentication required"),
            ApiError::OAuth { .. } => ("oauth", "Token request refused"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::MissingScope(_) => ("insufficient-scope", "Insufficient scope"),
            ApiError::NotFound => ("not-found", "Not found"),
            ApiError::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            ApiError::Merged { .. } => ("merged", "Client merged"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::PreconditionFailed => ("precondition-failed", "Precondition failed"),
            ApiError::PayloadTooLarge(_) => ("payload-too-large", "Payload too large"),
            ApiError::RequestTimeout(_) => ("request-timeout", "Request timeout"),
            ApiError::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            ApiError::HeadersTooLarge(_) => ("headers-too-large", "Request header fields too large"),
            ApiError::Unprocessable(_) => ("unprocessable", "Unprocessable request"),
            ApiError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            ApiError::Unavailable => ("unavailable", "Service unavailable"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    pub fn problem(&self) -> Problem {
        let (slug, title) = self.slug_and_title();
        let detail = match self {
            // The cause of an internal error is logged, never shown.
            ApiError::Internal(_) => "an unexpected error occurred; it has been logged".to_string(),
            other => other.to_string(),
        };
        Problem {
            problem_type: format!("/problems/{slug}"),
            title: title.to_string(),
            status: self.status_code().as_u16(),
            detail: Some(detail),
            errors: match self {
                ApiError::Validation(e) | ApiError::BadQuery(e) => Some(e.clone()),
                _ => None,
            },
            error: match self {
                ApiError::OAuth { error, .. } => Some(error.to_string()),
                _ => None,
            },
            merged_into: match self {
                ApiError::Merged { survivor, .. } => Some(*survivor),
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) | ApiError::BadQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::OAuth { status, .. } => *status,
            ApiError::Forbidden(_) | ApiError::MissingScope(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Merged { .. } => StatusCode::GONE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(%cause, "internal error");
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            ApiError::Unauthorized(detail) => {
                res.insert_header((header::WWW_AUTHENTICATE, bearer_challenge("invalid_token", detail)));
            }
            ApiError::MissingScope(scope) => {
                let value = format!("Bearer realm=\"clientbase\", error=\"insufficient_scope\", scope=\"{scope}\"");
                res.insert_header((header::WWW_AUTHENTICATE, value));
            }
            ApiError::OAuth { status, .. } if *status == StatusCode::UNAUTHORIZED => {
                res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"clientbase\""));
            }
            ApiError::TooManyRequests { retry_after, .. } => {
                res.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::Unavailable => {
                res.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::MethodNotAllowed { allow } => {
                res.insert_header((header::ALLOW, allow.as_str()));
            }
            _ => {}
        }
        res.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

fn bearer_challenge(error: &str, detail: &str) -> String {
    let detail = detail.replace('"', "'");
    format!("Bearer realm=\"clientbase\", error=\"{error}\", error_description=\"{detail}\"")
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> ApiError {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => ApiError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::Conflict("a record with these unique values already exists".into())
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => ApiError::Unavailable,
            // The connection died under the statement (a database restart, a network cut): the
            // transaction did not commit, and a retry runs on a fresh connection.
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => {
                ApiError::Unavailable
            }
            // PostgreSQL picked this transaction as a deadlock victim: nothing was written, and
            // the same request succeeds when retried.
            Error::DatabaseError(_, info) if info.message().starts_with("deadlock detected") => ApiError::Unavailable,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(_: diesel::r2d2::PoolError) -> ApiError {
        ApiError::Unavailable
    }
}

/// Collects field errors so that one response lists every invalid field at once.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> FieldErrors {
        FieldErrors::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), message: message.into() });
    }

    /// Adds an error unless `ok`; the field and message are only turned into text when it is
    /// added (pass `format_args!`, not `format!`, so that a passing check allocates nothing).
    pub fn check(&mut self, ok: bool, field: impl std::fmt::Display, message: impl std::fmt::Display) {
        if !ok {
            self.add(field.to_string(), message.to_string());
        }
    }

    /// Adds the errors of a `validator` derive, flattening nested structs and lists into paths.
    pub fn extend_validator(&mut self, prefix: &str, errors: &validator::ValidationErrors) {
        use validator::ValidationErrorsKind;
        for (field, kind) in errors.errors() {
            let path = if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") };
            match kind {
                ValidationErrorsKind::Field(list) => {
                    for e in list {
                        let message =
                            e.message.as_ref().map(|m| m.to_string()).unwrap_or_else(|| describe_validator_code(e));
                        self.add(path.clone(), message);
                    }
                }
                ValidationErrorsKind::Struct(inner) => self.extend_validator(&path, inner),
                ValidationErrorsKind::List(items) => {
                    for (i, inner) in items {
                        self.extend_validator(&format!("{path}[{i}]"), inner);
                    }
                }
            }
        }
    }

    /// Adds a last error and gives up: everything collected so far is reported.
    pub fn fail(mut self, field: impl Into<String>, message: impl Into<String>) -> ApiError {
        self.add(field, message);
        ApiError::Validation(self.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors themselves, for a batch item's result.
    pub fn into_list(self) -> Vec<FieldError> {
        self.0
    }

    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

fn describe_validator_code(e: &validator::ValidationError) -> String {
    let param = |name: &str| e.params.get(name).map(|v| v.to_string());
    match e.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be {min} to {max} characters long"),
            (Some(min), None) => format!("must be at least {min} characters long"),
            (None, Some(max)) => format!("must be at most {max} characters long"),
            _ => "has an invalid length".into(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".into(),
        },
        "email" => "is not a valid email address".into(),
        "url" => "is not a valid URL".into(),
        code => format!("is invalid ({code})"),
    }
}

/// Validates a `validator` derive into the API error.
pub fn validate(input: &impl validator::Validate) -> Result<(), ApiError> {
    let mut errors = FieldErrors::new();
    if let Err(e) = input.validate() {
        errors.extend_validator("", &e);
    }
    errors.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let p = ApiError::internal("password=hunter2 in query").problem();
        assert_eq!(p.status, 500);
        assert!(!p.detail.unwrap().contains("hunter2"));
    }

    #[test]
    fn every_variant_maps_to_a_client_or_server_status() {
        let samples = [
            ApiError::Validation(vec![]),
            ApiError::BadRequest("x".into()),
            ApiError::NotFound,
            ApiError::Merged { id: 1, survivor: 2 },
            ApiError::TooManyRequests { detail: "x".into(), retry_after: 3 },
            ApiError::MethodNotAllowed { allow: "GET".into() },
            ApiError::RequestTimeout("slow".into()),
        ];
        for e in samples {
            let p = e.problem();
            assert!(p.problem_type.starts_with("/problems/"));
            assert_eq!(p.status, e.status_code().as_u16());
        }
    }
}
