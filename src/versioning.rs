//! Optimistic concurrency, the one rule: a versioned row is changed only at the version the
//! caller read (`If-Match`, parsed by [`crate::http::if_match`]); otherwise 412.

use crate::error::ApiError;

/// Fails with 412 when the caller named a version and the row is at another one.
pub fn expect(expected: Option<i64>, current: i64) -> Result<(), ApiError> {
    match expected {
        Some(v) if v != current => Err(ApiError::PreconditionFailed),
        _ => Ok(()),
    }
}

/// A write made at the version read: `UPDATE … WHERE version = <read>` finding no row means
/// someone else changed it in between, which is the same 412.
pub trait AtReadVersion<T> {
    fn at_read_version(self) -> Result<T, ApiError>;
}

impl<T> AtReadVersion<T> for diesel::QueryResult<T> {
    fn at_read_version(self) -> Result<T, ApiError> {
        match self {
            Err(diesel::result::Error::NotFound) => Err(ApiError::PreconditionFailed),
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_another_named_version_fails() {
        assert!(super::expect(None, 3).is_ok());
        assert!(super::expect(Some(3), 3).is_ok());
        assert!(super::expect(Some(2), 3).is_err());
    }
}
