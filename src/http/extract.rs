//! Request extractors that turn every malformed input into a precise problem: the JSON body
//! (content type, size, syntax, field path of a type error) and the query string.

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// A JSON request body. Rejects other content types (415), bodies over the configured limit
/// (413), malformed JSON (400) and values of the wrong shape (422, naming the field).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_json(req);
        let body = body_bytes(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(not_json());
            }
            let bytes = body.await?;
            parse_json(&bytes).map(ApiJson)
        })
    }
}

/// Reads the body within the app's payload limit, mapping an oversized body to 413.
pub fn body_bytes(req: &HttpRequest, payload: &mut Payload) -> LocalBoxFuture<'static, Result<Bytes, ApiError>> {
    // The app registers a `PayloadConfig` with the same limit, so the read below stops there.
    let limit = req.app_data::<BodyLimit>().map_or(DEFAULT_BODY_LIMIT, |l| l.0);
    let declared = declared_length(req.headers());
    let fut = Bytes::from_request(req, payload);
    Box::pin(async move {
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        match fut.await {
            Ok(bytes) if bytes.len() > limit => Err(too_large(limit)),
            Ok(bytes) => Ok(bytes),
            Err(e) => match e.as_error::<PayloadError>() {
                Some(PayloadError::Overflow) => Err(too_large(limit)),
                _ => Err(ApiError::BadRequest(format!("could not read the request body: {e}"))),
            },
        }
    })
}

/// The body length a request declares in `Content-Length`, if it declares one.
pub fn declared_length(headers: &header::HeaderMap) -> Option<usize> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok())
}

/// The largest request body accepted, in bytes (set from `CLIENTBASE_MAX_BODY_BYTES`).
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

const DEFAULT_BODY_LIMIT: usize = 4 * 1024 * 1024;

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!("the request body is larger than {limit} bytes"))
}

pub fn is_json(req: &HttpRequest) -> bool {
    media_type(req).is_some_and(|m| m == "application/json" || m.ends_with("+json"))
}

/// A JSON body already read: 415 unless the request says it is JSON, then parsed.
pub fn json_body<T: DeserializeOwned>(req: &HttpRequest, bytes: &[u8]) -> Result<T, ApiError> {
    if !is_json(req) {
        return Err(not_json());
    }
    parse_json(bytes)
}

fn not_json() -> ApiError {
    ApiError::UnsupportedMediaType("the request body must be application/json".into())
}

pub fn media_type(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if has_nul_escape(bytes) {
        if let Some(field) = serde_json::from_slice::<serde_json::Value>(bytes).ok().and_then(|v| nul_path(&v, "")) {
            return Err(nul_error(ApiError::Validation, field));
        }
    }
    // Every body is an object; serde would also fill a struct from an array of its fields.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::Validation(vec![FieldError {
            field: "body".into(),
            message: "must be a JSON object, not an array".into(),
        }]));
    }
    if may_hold_bad_date(bytes) {
        let value = serde_json::from_slice::<serde_json::Value>(bytes).ok();
        if let Some(field) = value.and_then(|v| string_path(&v, "", &date_out_of_range, false)) {
            return Err(date_error(ApiError::Validation, field));
        }
    }
    if may_hold_integral_float(bytes) {
        return parse_normalised(bytes);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::BadRequest(format!("malformed JSON: {inner}"))
            }
            _ => {
                let message = strip_position(&inner.to_string());
                ApiError::Validation(vec![FieldError { field: error_field(&path, &message, "body"), message }])
            }
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// JSON has one number type: `3.0` and `3e2` are integers to JSON Schema (and so to the
/// contract), while serde refuses them for integer fields. Such a body is read into a value, its
/// integral floats become integers, and the value is deserialised from there.
fn parse_normalised<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    integral_floats_to_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = strip_position(&e.into_inner().to_string());
        ApiError::Validation(vec![FieldError { field: error_field(&path, &message, "body"), message }])
    })
}

fn integral_floats_to_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    // Beyond 2^53 a float no longer says which integer it was; it stays a float (and is refused).
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= EXACT) {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_to_integers),
        Value::Object(map) => map.values_mut().for_each(integral_floats_to_integers),
        _ => {}
    }
}

/// Whether a number with a fraction of zeros or an exponent may be in the body (a cheap scan;
/// text inside strings can make it say yes, which only costs the slower path).
fn may_hold_integral_float(bytes: &[u8]) -> bool {
    bytes.windows(2).enumerate().any(|(i, w)| {
        w[0].is_ascii_digit()
            && match w[1] {
                b'e' | b'E' => true,
                b'.' => {
                    let zeros = bytes[i + 2..].iter().take_while(|c| **c == b'0').count();
                    zeros > 0 && !bytes.get(i + 2 + zeros).is_some_and(|c| c.is_ascii_digit())
                }
                _ => false,
            }
    })
}

/// The field a deserialisation error is about. Some deserialisers report an unknown field
/// against its parent and name it only in the message, so it is taken from there then.
pub fn error_field(path: &str, message: &str, root: &str) -> String {
    let unknown = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next());
    match (path, unknown) {
        (".", Some(name)) => name.to_string(),
        (".", None) => root.to_string(),
        (p, Some(name)) if !p.ends_with(name) => format!("{p}.{name}"),
        (p, _) => p.to_string(),
    }
}

/// serde_json appends "at line 1 column 42"; the field path already says where.
pub fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Query parameters. An unknown parameter, a value of the wrong type or an unknown enum value is
/// a 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse_query(req.query_string()).map(ApiQuery))
    }
}

/// A query with custom field filters: the declared parameters in `T`, and the `cf.…` pairs
/// (`cf.<key>=`, `cf.<key>.gte=`…) apart, for the custom fields domain to read.
pub struct QueryWithCustom<T>(pub T, pub Vec<(String, String)>);

impl<T: DeserializeOwned> FromRequest for QueryWithCustom<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = req.query_string();
        type Pairs = Vec<(String, String)>;
        let (custom, rest): (Pairs, Pairs) =
            form_urlencoded::parse(query.as_bytes()).into_owned().partition(|(k, _)| k.starts_with("cf."));
        let rest = form_urlencoded::Serializer::new(String::new()).extend_pairs(rest).finish();
        let parsed = if nul_pair(query.as_bytes()).is_some() { parse_query(query) } else { parse_query(&rest) };
        std::future::ready(parsed.map(|t| QueryWithCustom(t, custom)))
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if let Some(field) = nul_pair(query.as_bytes()) {
        return Err(nul_error(ApiError::BadQuery, field));
    }
    if let Some((field, _)) = form_urlencoded::parse(query.as_bytes()).find(|(_, v)| date_out_of_range(v)) {
        return Err(date_error(ApiError::BadQuery, field.into_owned()));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        ApiError::BadQuery(vec![FieldError { field: error_field(&path, &message, "query"), message }])
    })
}

// PostgreSQL text cannot hold NUL characters (SQLite would keep them, and so would exports and
// webhooks): a value carrying one is refused up front, naming where it is.

/// The first form pair (`a=b&c=d`, percent-decoded) whose name or value holds a NUL.
pub fn nul_pair(form: &[u8]) -> Option<String> {
    form_urlencoded::parse(form)
        .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        .map(|(k, _)| k.replace('\0', "\\u0000"))
}

/// Whether the JSON text holds a `\u0000` escape (the only way a JSON string carries a NUL).
fn has_nul_escape(bytes: &[u8]) -> bool {
    bytes.windows(6).enumerate().any(|(i, w)| {
        // An escape only if the backslash itself is not escaped: an odd run of them ends here.
        w == b"\\u0000" && bytes[..=i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 1
    })
}

/// The path (`items[2].name`) of the first string or key holding a NUL.
fn nul_path(value: &serde_json::Value, at: &str) -> Option<String> {
    string_path(value, at, &|s| s.contains('\0'), true)
}

/// The path of the first string (or, with `keys`, key) that `bad` holds for.
fn string_path(value: &serde_json::Value, at: &str, bad: &dyn Fn(&str) -> bool, keys: bool) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if bad(s) => Some(if at.is_empty() { "body".into() } else { at.into() }),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| string_path(v, &format!("{at}[{i}]"), bad, keys))
        }
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let path =
                if at.is_empty() { k.replace('\0', "\\u0000") } else { format!("{at}.{}", k.replace('\0', "\\u0000")) };
            if keys && bad(k) {
                Some(path)
            } else {
                string_path(v, &path, bad, keys)
            }
        }),
        _ => None,
    }
}

// Dates: both databases store the years 1 to 9999 (PostgreSQL nothing before 4713 BC, SQLite
// compares them as text), and chrono's own range is far wider; a date or timestamp outside is
// refused up front, by its shape, wherever it appears, so no field can reach the database or
// date arithmetic with one.

const DATE_RANGE: &str = "must be a date between the years 1 and 9999";

/// Whether `s` is a date or timestamp (`YYYY-MM-DD…`) whose year is outside 1–9999: signed
/// (`+262142-12-31`, `-0044-03-15`), of five digits or more, or `0000`.
pub fn date_out_of_range(s: &str) -> bool {
    bad_date(s.as_bytes())
}

fn bad_date(b: &[u8]) -> bool {
    let signed = matches!(b.first(), Some(b'+' | b'-'));
    let rest = &b[signed as usize..];
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let tail = &rest[digits..];
    let two = |t: &[u8]| t.iter().all(u8::is_ascii_digit);
    let dated = digits >= 4
        && tail.len() >= 6
        && tail[0] == b'-'
        && two(&tail[1..3])
        && tail[3] == b'-'
        && two(&tail[4..6])
        && (tail.len() == 6
            || matches!(tail[6], b'T' | b't' | b' ') && tail[7..].iter().all(|c| b"0123456789:.+-Zz".contains(c)));
    dated && (signed || digits > 4 || rest[..4] == *b"0000")
}

/// Whether the JSON text may hold such a date: some string starting like one. Cheap, so the
/// walk that names the field runs only then.
fn may_hold_bad_date(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, b)| {
        *b == b'"' && {
            let after = &bytes[i + 1..bytes.len().min(i + 40)];
            let end = after.iter().position(|c| *c == b'"').unwrap_or(after.len());
            bad_date(&after[..end])
        }
    })
}

fn date_error(kind: fn(Vec<FieldError>) -> ApiError, field: String) -> ApiError {
    kind(vec![FieldError { field, message: DATE_RANGE.into() }])
}

/// A text path segment (a code or a name): one holding a NUL names nothing there is.
pub fn path_key(value: String) -> Result<String, ApiError> {
    if value.contains('\0') {
        return Err(ApiError::NotFound);
    }
    Ok(value)
}

fn nul_error(kind: fn(Vec<FieldError>) -> ApiError, field: String) -> ApiError {
    kind(vec![FieldError { field, message: "must not contain NUL characters".into() }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Q {
        limit: Option<u32>,
        status: Option<Status>,
    }

    #[test]
    fn dates_outside_the_years_1_to_9999_are_told_by_their_shape() {
        for bad in
            ["-262143-01-05", "+262142-12-31", "0000-01-01", "10000-01-01", "-4714-11-24T00:00:00Z", "+2026-01-01"]
        {
            assert!(date_out_of_range(bad), "{bad}");
        }
        for fine in [
            "0001-01-01",
            "9999-12-31",
            "2026-12-02T10:00:00Z",
            "+7999-123-45-67",
            "-5",
            "12345",
            "2026-1-1",
            "-2020-01-01 call back",
        ] {
            assert!(!date_out_of_range(fine), "{fine}");
        }
        assert_eq!(fields(parse_query::<Q>("limit=1&to=-262143-01-05").unwrap_err()), ["to"]);
        let body = br#"{"items": [{"sold_on": "2026-01-01"}, {"sold_on": "+262142-12-31"}]}"#;
        assert_eq!(fields(parse_json::<serde_json::Value>(body).unwrap_err()), ["items[1].sold_on"]);
        assert!(parse_json::<serde_json::Value>(br#"{"note": "0001-01-01"}"#).is_ok());
    }

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "snake_case")]
    enum Status {
        Active,
    }

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::BadQuery(f) | ApiError::Validation(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn query_errors_name_the_parameter() {
        assert_eq!(fields(parse_query::<Q>("limit=abc").unwrap_err()), ["limit"]);
        assert_eq!(fields(parse_query::<Q>("status=gone").unwrap_err()), ["status"]);
        assert_eq!(fields(parse_query::<Q>("colour=red").unwrap_err()), ["colour"]);
        assert!(parse_query::<Q>("limit=5&status=active").is_ok());
    }

    #[test]
    fn json_errors_distinguish_syntax_from_shape() {
        assert!(matches!(parse_json::<Q>(b"{\"limit\": "), Err(ApiError::BadRequest(_))));
        assert!(matches!(parse_json::<Q>(b"{} trailing"), Err(ApiError::BadRequest(_))));
        assert_eq!(fields(parse_json::<Q>(b"{\"status\": \"gone\"}").unwrap_err()), ["status"]);
        assert_eq!(fields(parse_json::<Q>(b"{\"limit\": -1}").unwrap_err()), ["limit"]);
    }

    #[test]
    fn integral_floats_are_integers() {
        #[derive(Deserialize, Debug)]
        struct N {
            n: i64,
            items: Vec<u32>,
            ratio: f64,
        }
        let n: N = parse_json(br#"{"n": 262.0, "items": [1e2, 3.00], "ratio": 0.5}"#).unwrap();
        assert_eq!((n.n, n.items, n.ratio), (262, vec![100, 3], 0.5));
        assert_eq!(fields(parse_json::<N>(br#"{"n": 2.5, "items": [], "ratio": 1}"#).unwrap_err()), ["n"]);
        assert_eq!(fields(parse_json::<N>(br#"{"n": 1e300, "items": [], "ratio": 1}"#).unwrap_err()), ["n"]);
        assert!(!may_hold_integral_float(br#"{"n": 10.05, "s": "v1.05"}"#));
        assert!(may_hold_integral_float(br#"{"n": 10.0}"#));
    }

    #[test]
    fn nul_characters_are_refused_where_they_are() {
        assert_eq!(fields(parse_query::<Q>("limit=5&status=act%00ive").unwrap_err()), ["status"]);
        let body = br#"{"items": [{"name": "ok"}, {"name": "a\u0000b"}]}"#;
        assert_eq!(nul_path(&serde_json::from_slice(body).unwrap(), ""), Some("items[1].name".to_string()));
        assert!(matches!(parse_json::<Q>(br#"{"status": "\u0000"}"#), Err(ApiError::Validation(_))));
        // An escaped backslash followed by "u0000" is text, not a NUL.
        assert!(!has_nul_escape(br#"{"status": "\\u0000"}"#));
        assert!(has_nul_escape(br#"{"status": "\\\u0000"}"#));
    }
}
