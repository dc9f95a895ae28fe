//! Channel rows, the channel as the API shows it, and its inputs.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::db::schema::channels;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = channels)]
pub struct ChannelRow {
    pub code: String,
    pub name: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
}

/// A sales channel (retail, chain, online store, wholesale, B2C, B2G…).
#[derive(Debug, Serialize, ToSchema)]
pub struct Channel {
    /// Stable code clients refer to.
    pub code: String,
    pub name: String,
    /// Inactive channels stay on existing clients but cannot be given to new ones.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

impl From<ChannelRow> for Channel {
    fn from(r: ChannelRow) -> Channel {
        Channel { code: r.code, name: r.name, active: r.active, created_at: r.created_at.and_utc() }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// Lowercase letters, digits and `_`.
    #[validate(length(min = 1, max = 50), custom(function = "valid_code"))]
    #[schema(min_length = 1, max_length = 50, pattern = "^[a-z0-9_]+$")]
    pub code: String,
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub active: Option<bool>,
}

fn valid_code(code: &str) -> Result<(), validator::ValidationError> {
    if code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        Ok(())
    } else {
        Err(validator::ValidationError::new("code").with_message("use lowercase latin letters, digits and _".into()))
    }
}
