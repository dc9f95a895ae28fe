//! Imports as stored and as the API shows them: the file's columns, the settings (mapping,
//! mode, matching, defaults, value maps), progress and what a revert did.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clients::model::ClientStatus;
use crate::db::schema::{import_rows, imports};
use crate::error::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Stored and mapped (a guess until changed); nothing written yet.
    Uploaded,
    /// Being applied in the background.
    Running,
    Done,
    /// Stopped on an error the rows did not cause (see `failure`).
    Failed,
    /// Undone: the cards it created are deleted, the fields it changed have their values back.
    Reverted,
}

crate::text_enum!(ImportState {
    Uploaded = "uploaded",
    Running = "running",
    Done = "done",
    Failed = "failed",
    Reverted = "reverted",
} else Failed);

/// What the rows of the file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportEntity {
    /// Client cards: one row per company or person.
    Clients,
    /// Contact persons, each row naming its company by `client.*` columns.
    Contacts,
    /// Purchases, each row naming its client by `client.*` columns.
    Sales,
}

crate::text_enum!(ImportEntity { Clients = "clients", Contacts = "contacts", Sales = "sales" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    Csv,
    Xlsx,
}

crate::text_enum!(FileFormat { Csv = "csv", Xlsx = "xlsx" } else Csv);

/// What happens to a row that matches a card (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// New cards only: a row that matches a card is skipped.
    Create,
    /// Existing cards only: a row that matches none is skipped.
    Update,
    /// Update what matches, create the rest.
    #[default]
    Upsert,
}

/// What the import did (or would do, in a preview) with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowOutcome {
    Create,
    Update,
    Unchanged,
    Skip,
    Error,
}

crate::text_enum!(RowOutcome {
    Create = "create",
    Update = "update",
    Unchanged = "unchanged",
    Skip = "skip",
    Error = "error",
} else Error);

/// A column of the file: its header and up to five sample values.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Column {
    pub header: String,
    pub samples: Vec<String>,
}

/// Values every new card takes where its row leaves them empty; `tags` are added to every row.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImportDefaults {
    /// The owner by email or name.
    pub owner: Option<String>,
    pub status: Option<ClientStatus>,
    /// A channel code.
    pub channel: Option<String>,
    #[serde(default)]
    #[schema(schema_with = default_tags_schema)]
    pub tags: Vec<String>,
}

/// Tags of 1 to 50 characters once trimmed.
fn default_tags_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let tag =
        ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(50)).pattern(Some(r"\S"));
    ArrayBuilder::new().items(tag).build()
}

/// How the rows become cards.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImportSettings {
    /// Column header → field. For clients: `name`, `legal_name`, `inn`, `kind`, `status`, `lost_reason`,
    /// `channel`, `region`, `industry`, `source`, `owner` (email or name), `tags`, `notes`,
    /// `phones`, `emails`, `address`, `mailing_consent`, `estimated_potential`, `roles`,
    /// `external_id:<source>`, `custom_fields.<key>`, or `ignore`. Lists (tags, phones, emails,
    /// roles) are split on `,` `;` and line breaks.
    /// For contacts: `name`, `position`, `is_decision_maker`, `phones`, `emails`, `birthday`,
    /// `preferences`, `notes`, `custom_fields.<key>` (contact fields). For sales: `sold_on`,
    /// `amount`, `cost`, `margin`, `currency`, `document_number` and `external_id:<source>` (the
    /// sale's own id, which makes re-runs update it). Both find the row's client by
    /// `client.inn`, `client.name`, `client.region`, `client.phones`, `client.emails` and
    /// `client.external_id:<source>` columns; rows never create clients.
    pub mapping: BTreeMap<String, String>,
    pub mode: ImportMode,
    /// How a row finds its card (for contacts and sales: its client), in order: `inn`, `phone`,
    /// `email`, `external_id:<source>`, `name_region`, `name`. The first that finds exactly one card decides; one that finds two makes
    /// the row an error.
    pub match_on: Vec<String>,
    pub defaults: ImportDefaults,
    /// Field → cell text → value, for `status`, `kind`, `channel` (e.g. «Активный» → active);
    /// the usual Russian and English labels are known without it.
    pub values: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for ImportSettings {
    fn default() -> ImportSettings {
        ImportSettings {
            mapping: BTreeMap::new(),
            mode: ImportMode::Upsert,
            match_on: vec!["inn".into(), "phone".into(), "email".into()],
            defaults: ImportDefaults::default(),
            values: BTreeMap::new(),
        }
    }
}

/// `match_on`: the ways `mapping::MatchKey` reads.
fn match_on_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^(inn|phone|email|name_region|name|external_id:[A-Za-z0-9_-]{1,50})$"));
    ArrayBuilder::new()
        .description(Some("How a row finds its card, in order (see `ImportSettings`)."))
        .items(key)
        .build()
}

/// `values`: maps of cell text to value for the fields `mapping::VALUE_FIELDS` names (clients
/// only) and for custom fields.
fn values_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let texts = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(ObjectBuilder::new().schema_type(Type::String)));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("Field → cell text → value (see `ImportSettings`)."))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^(status|kind|channel|mailing_consent|roles|custom_fields\..+)$")),
        ))
        .additional_properties(Some(texts))
        .build()
}

/// Changes to an uploaded import's settings; only the fields sent change.
#[derive(Debug, Clone, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ImportPatch {
    /// Replaces the whole mapping; columns left out are ignored.
    pub mapping: Option<BTreeMap<String, String>>,
    pub mode: Option<ImportMode>,
    #[schema(schema_with = match_on_schema)]
    pub match_on: Option<Vec<String>>,
    pub defaults: Option<ImportDefaults>,
    #[schema(schema_with = values_schema)]
    pub values: Option<BTreeMap<String, BTreeMap<String, String>>>,
}

/// A card whose revert was refused: someone changed it after the import.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct RevertConflict {
    pub row: i64,
    /// The card the row belongs to.
    pub client_id: i64,
    /// The contact or sale left as it is (for imports of contacts and sales).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<i64>,
    pub reason: String,
}

/// Conflicts a revert lists in full; the rest are counted.
const CONFLICTS_KEPT: usize = 1000;

/// What a revert did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default, PartialEq)]
pub struct RevertSummary {
    /// Cards the import created, now soft-deleted.
    pub deleted: i64,
    /// Cards whose changed fields have their previous values back.
    pub restored: i64,
    /// Cards left as they are because they changed after the import (the first 1 000).
    pub conflicts: Vec<RevertConflict>,
    pub conflict_count: i64,
}

impl RevertSummary {
    /// Notes a row left as it is: counted, and listed while fewer than a thousand are.
    pub fn conflict(&mut self, row: i64, client_id: i64, record_id: Option<i64>, reason: &str) {
        self.conflict_count += 1;
        if self.conflicts.len() < CONFLICTS_KEPT {
            self.conflicts.push(RevertConflict { row, client_id, record_id, reason: reason.into() });
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = imports)]
pub struct ImportRow {
    pub id: i64,
    pub entity: String,
    pub state: String,
    pub file_name: String,
    pub format: String,
    pub sheet: Option<String>,
    pub size_bytes: i64,
    pub row_count: i64,
    pub file_columns: String,
    pub settings: String,
    pub batch_rows: i64,
    pub processed: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
    pub errors: i64,
    pub failure: Option<String>,
    pub reverted: Option<String>,
    pub created_by: String,
    pub started_by: Option<String>,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub reverted_at: Option<NaiveDateTime>,
    pub lease_until: Option<NaiveDateTime>,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl ImportRow {
    pub fn entity(&self) -> ImportEntity {
        ImportEntity::parse(&self.entity).unwrap_or(ImportEntity::Clients)
    }

    pub fn state(&self) -> ImportState {
        ImportState::parse(&self.state)
    }

    pub fn settings(&self) -> ImportSettings {
        serde_json::from_str(&self.settings).unwrap_or_default()
    }

    pub fn columns(&self) -> Vec<Column> {
        serde_json::from_str(&self.file_columns).unwrap_or_default()
    }

    pub fn headers(&self) -> Vec<String> {
        self.columns().into_iter().map(|c| c.header).collect()
    }
}

/// An import: the file, how it is mapped, and how far its run has got.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Import {
    pub id: i64,
    pub entity: ImportEntity,
    pub state: ImportState,
    pub file_name: String,
    pub format: FileFormat,
    /// The worksheet read (XLSX).
    pub sheet: Option<String>,
    pub size_bytes: i64,
    /// Data rows below the header.
    pub rows: i64,
    pub columns: Vec<Column>,
    #[serde(flatten)]
    pub settings: ImportSettings,
    pub total: i64,
    pub processed: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
    pub errors: i64,
    /// Why a failed import stopped.
    pub failure: Option<String>,
    pub revert: Option<RevertSummary>,
    pub created_by: String,
    pub started_by: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub reverted_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Import {
    pub fn from_row(r: ImportRow) -> Import {
        let entity = r.entity();
        Import {
            id: r.id,
            entity,
            state: r.state(),
            settings: r.settings(),
            columns: r.columns(),
            file_name: r.file_name,
            format: FileFormat::parse(&r.format),
            sheet: r.sheet,
            size_bytes: r.size_bytes,
            rows: r.row_count,
            total: r.row_count,
            processed: r.processed,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            skipped: r.skipped,
            errors: r.errors,
            failure: r.failure,
            revert: r.reverted.as_deref().and_then(|s| serde_json::from_str(s).ok()),
            created_by: r.created_by,
            started_by: r.started_by,
            started_at: r.started_at.map(|t| t.and_utc()),
            finished_at: r.finished_at.map(|t| t.and_utc()),
            reverted_at: r.reverted_at.map(|t| t.and_utc()),
            version: r.version,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// What was done with one row, as the run records it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = import_rows)]
pub struct RowRecord {
    pub import_id: i64,
    pub row_no: i64,
    pub outcome: String,
    pub record_id: Option<i64>,
    pub previous: Option<String>,
    pub version_after: Option<i64>,
    pub reasons: Option<String>,
    pub reverted: bool,
}

/// One row of a preview.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct PreviewRow {
    /// The row's number among the data rows, from 1 (the header is row 0).
    pub row: i64,
    pub outcome: RowOutcome,
    /// The card it matched or created; for contacts and sales, the card the row belongs to.
    pub client_id: Option<i64>,
    /// The contact or sale it matched or created (imports of contacts and sales).
    pub record_id: Option<i64>,
    /// The fields an update changes.
    pub changes: Vec<String>,
    /// Why the row is rejected or skipped, by field.
    pub errors: Vec<FieldError>,
}

/// Rows per outcome.
#[derive(Debug, Clone, Serialize, ToSchema, Default, PartialEq)]
pub struct Totals {
    pub create: i64,
    pub update: i64,
    pub unchanged: i64,
    pub skip: i64,
    pub error: i64,
}

impl Totals {
    pub fn add(&mut self, outcome: RowOutcome) {
        match outcome {
            RowOutcome::Create => self.create += 1,
            RowOutcome::Update => self.update += 1,
            RowOutcome::Unchanged => self.unchanged += 1,
            RowOutcome::Skip => self.skip += 1,
            RowOutcome::Error => self.error += 1,
        }
    }
}

/// What running the import would do; nothing is written.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preview {
    pub totals: Totals,
    /// Rows after `after`, at most `limit`, of the outcome asked for.
    pub rows: Vec<PreviewRow>,
    /// The `after` of the next page, when there is one.
    pub next_after: Option<i64>,
}

// The shapes of an upload body, for the contract only: the handler reads the body itself.

/// A workbook sent as the body itself (an empty file is refused).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary, min_length = 1)]
#[allow(dead_code)]
pub struct WorkbookBody(Vec<u8>);

/// A CSV file sent as the body itself (an empty file is refused).
#[derive(ToSchema)]
#[schema(min_length = 1)]
#[allow(dead_code)]
pub struct CsvBody(String);

/// The multipart form of an upload: a part not named here is refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The spreadsheet: CSV (UTF-8, UTF-8 with BOM or Windows-1251; `;`, `,` or tab) or XLSX.
    #[schema(value_type = String, format = Binary, min_length = 1)]
    file: Vec<u8>,
    /// A form part is text: it is the entity's name or absent, never `null`.
    #[schema(value_type = ImportEntity)]
    entity: Option<ImportEntity>,
    /// The worksheet to read (default the first).
    #[schema(value_type = String)]
    sheet: Option<String>,
}
