//! A file upload as the body: `multipart/form-data` (a `file` part and text parts beside it) or
//! the raw file with its own content type. The body is read as it streams in and refused (413)
//! the moment it passes the limit, whatever its Content-Length claimed.

use std::collections::BTreeMap;

use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;
use futures_util::StreamExt;

use crate::error::ApiError;

/// An uploaded file and the text fields that came with it.
#[derive(Debug, Default)]
pub struct Upload {
    pub content: Vec<u8>,
    /// The file name of the `file` part, when it had one.
    pub file_name: Option<String>,
    /// Text parts of a multipart body, by name.
    pub fields: BTreeMap<String, String>,
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!("the file is larger than {limit} bytes"))
}

fn push(into: &mut Vec<u8>, chunk: &Bytes, total: &mut usize, limit: usize) -> Result<(), ApiError> {
    *total += chunk.len();
    if *total > limit {
        return Err(too_large(limit));
    }
    into.extend_from_slice(chunk);
    Ok(())
}

/// Reads the body of an upload; `raw_types` are the media types accepted as the file itself.
pub async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    raw_types: &[&str],
    text_fields: &[&str],
) -> Result<Upload, ApiError> {
    let declared = super::extract::declared_length(req.headers());
    if declared.is_some_and(|n| n > limit + 64 * 1024) {
        return Err(too_large(limit));
    }
    let media = super::extract::media_type(req).unwrap_or_default();
    let mut total = 0usize;
    let mut upload = Upload::default();
    if media == "multipart/form-data" {
        let mut parts = actix_multipart::Multipart::new(req.headers(), payload);
        let mut seen_file = false;
        while let Some(part) = parts.next().await {
            let mut part = part.map_err(|e| ApiError::BadRequest(format!("the multipart body cannot be read: {e}")))?;
            let name = part.name().unwrap_or_default().to_string();
            let is_file = name == "file";
            if !is_file && !text_fields.contains(&name.as_str()) {
                return Err(ApiError::field(name, "is not a field of this upload"));
            }
            if is_file {
                if seen_file {
                    return Err(ApiError::field("file", "only one file can be uploaded at a time"));
                }
                seen_file = true;
                upload.file_name = part.content_disposition().and_then(|d| d.get_filename()).map(String::from);
            }
            let mut value = Vec::new();
            while let Some(chunk) = part.next().await {
                let chunk =
                    chunk.map_err(|e| ApiError::BadRequest(format!("the multipart body cannot be read: {e}")))?;
                push(&mut value, &chunk, &mut total, limit)?;
            }
            if is_file {
                upload.content = value;
            } else {
                let text = String::from_utf8(value).map_err(|_| ApiError::field(name.clone(), "is not UTF-8 text"))?;
                upload.fields.insert(name, text.trim().to_string());
            }
        }
        if !seen_file {
            return Err(ApiError::field("file", "is required: send the spreadsheet as the part named file"));
        }
        return Ok(upload);
    }
    if !raw_types.contains(&media.as_str()) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "send the file as multipart/form-data or as the body with one of: {}",
            raw_types.join(", ")
        )));
    }
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        push(&mut upload.content, &chunk, &mut total, limit)?;
    }
    Ok(upload)
}
