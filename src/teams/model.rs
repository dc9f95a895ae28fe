//! Team rows, the team as the API shows it, and its inputs.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::teams;
use crate::patch::double_option;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = teams)]
pub struct TeamRow {
    pub id: i64,
    pub name: String,
    pub lead_id: Option<i64>,
    pub region: Option<String>,
    pub channel: Option<String>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A sales team.
#[derive(Debug, Serialize, ToSchema)]
pub struct Team {
    pub id: i64,
    pub name: String,
    /// The user who leads the team (null: no lead yet).
    pub lead_id: Option<i64>,
    /// The members' user ids, ascending.
    pub members: Vec<i64>,
    /// The region the team covers, if it covers one.
    pub region: Option<String>,
    /// The channel the team covers, if it covers one.
    pub channel: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Team {
    pub fn of(r: TeamRow, members: Vec<i64>) -> Team {
        Team {
            id: r.id,
            name: r.name,
            lead_id: r.lead_id,
            members,
            region: r.region,
            channel: r.channel,
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    /// Not blank; unique.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// An active user.
    pub lead_id: Option<i64>,
    /// Active users; each at most once.
    #[serde(default)]
    #[schema(max_items = 500)]
    pub members: Vec<i64>,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub region: Option<String>,
    /// An active channel's code.
    #[schema(min_length = 1, max_length = 50)]
    pub channel: Option<String>,
}

/// Fields to change; `null` clears the lead, region or channel. `members` replaces the list.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    /// Not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub lead_id: Option<Option<i64>>,
    #[schema(max_items = 500)]
    pub members: Option<Vec<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub region: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 50)]
    pub channel: Option<Option<String>>,
}
