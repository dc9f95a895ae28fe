//! Exporting the base: every client matching the list filters, in id order, a thousand at a
//! time, so memory stays flat whatever the size. CSV is Excel-friendly (UTF-8 BOM, `;` on
//! request) and safe against formula injection; NDJSON carries the full cards; XLSX is a real
//! workbook with typed cells, written in constant memory and streamed out as it is zipped.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::Deserialize;
use utoipa::ToSchema;

use crate::audit::{self, Entry};
use crate::auth::Caller;
use crate::clients::model::Client;
use crate::clients::repo::{after_id, ClientFilter};
use crate::custom_fields::values::cell_text;
use crate::custom_fields::{CustomEntity, Definition};
use crate::db::{self, DbConn, Pool};
use crate::error::ApiError;

const CHUNK: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Csv,
    Ndjson,
    Xlsx,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
            Format::Xlsx => "xlsx",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delimiter {
    Comma,
    Semicolon,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub format: Format,
    pub delimiter: u8,
    pub bom: bool,
}

pub(super) const COLUMNS: [&str; 23] = [
    "id",
    "kind",
    "name",
    "legal_name",
    "inn",
    "status",
    "lost_reason",
    "channel",
    "region",
    "industry",
    "source",
    "owner_id",
    "tags",
    "phones",
    "emails",
    "mailing_consent",
    "estimated_potential",
    "revenue",
    "last_purchase_on",
    "external_ids",
    "created_at",
    "updated_at",
    "roles",
];

/// A cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP's advice).
pub fn cell(value: &str) -> String {
    guarded(value).into_owned()
}

fn guarded(value: &str) -> Cow<'_, str> {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{value}")),
        _ => Cow::Borrowed(value),
    }
}

/// The live client custom fields, exported after the fixed columns under their labels.
pub(super) fn custom_columns(conn: &mut DbConn) -> Result<Vec<Definition>, ApiError> {
    let schema = crate::custom_fields::repo::schema(conn, CustomEntity::Client)?;
    Ok(schema.fields.into_iter().filter(|d| !d.archived).collect())
}

/// Writes one card as a CSV record, field by field: the values go straight from the card into
/// the writer's buffer (`scratch` holds the joined lists), guarded against formulas.
fn write_record(
    w: &mut csv::Writer<Vec<u8>>,
    c: &Client,
    custom: &[Definition],
    scratch: &mut String,
) -> csv::Result<()> {
    fn joined(scratch: &mut String, items: impl Iterator<Item = impl std::fmt::Display>) -> &str {
        scratch.clear();
        for (i, item) in items.enumerate() {
            if i > 0 {
                scratch.push_str(", ");
            }
            let _ = write!(scratch, "{item}");
        }
        scratch
    }
    let text = |w: &mut csv::Writer<Vec<u8>>, v: &str| w.write_field(guarded(v).as_bytes());
    let opt = |w: &mut csv::Writer<Vec<u8>>, v: &Option<String>| text(w, v.as_deref().unwrap_or(""));
    w.write_field(c.id.to_string())?;
    text(w, c.kind.as_str())?;
    text(w, &c.name)?;
    opt(w, &c.legal_name)?;
    opt(w, &c.inn)?;
    text(w, c.status.as_str())?;
    opt(w, &c.lost_reason)?;
    opt(w, &c.channel)?;
    opt(w, &c.region)?;
    opt(w, &c.industry)?;
    opt(w, &c.source)?;
    w.write_field(c.owner_id.map(|o| o.to_string()).unwrap_or_default())?;
    text(w, joined(scratch, c.tags.iter()))?;
    text(w, joined(scratch, c.phones.iter().map(|p| &p.number)))?;
    text(w, joined(scratch, c.emails.iter().map(|e| &e.address)))?;
    w.write_field(if c.mailing_consent { "true" } else { "false" })?;
    opt(w, &c.estimated_potential)?;
    text(w, &c.purchases.revenue)?;
    w.write_field(c.purchases.last_purchase_on.map(|d| d.to_string()).unwrap_or_default())?;
    text(w, joined(scratch, c.external_ids.iter().map(|(s, e)| format!("{s}:{e}"))))?;
    w.write_field(c.created_at.to_rfc3339())?;
    w.write_field(c.updated_at.to_rfc3339())?;
    text(w, &crate::clients::model::roles_text(&c.roles))?;
    for d in custom {
        match c.custom_fields.get(&d.key) {
            Some(v) => text(w, &cell_text(v))?,
            None => w.write_field("")?,
        }
    }
    w.write_record(None::<&[u8]>)
}

/// Pages through the matching clients in id order, a chunk of cards at a time, until `each`
/// answers false; returns how many were read.
pub(super) fn pages(
    conn: &mut DbConn,
    filter: &ClientFilter,
    mut each: impl FnMut(&[Client]) -> Result<bool, ApiError>,
) -> Result<u64, ApiError> {
    let mut last = 0i64;
    let mut read = 0u64;
    loop {
        let cards = after_id(conn, filter, last, CHUNK)?;
        let Some(tail) = cards.last() else { break };
        last = tail.id;
        let n = cards.len();
        read += n as u64;
        if !each(&cards)? || (n as i64) < CHUNK {
            break;
        }
    }
    Ok(read)
}

/// Streams the matching clients to `sink` chunk by chunk and returns how many were written.
/// Stops early when `sink` answers false (the reader went away).
pub fn write(
    conn: &mut DbConn,
    filter: &ClientFilter,
    opts: Options,
    mut sink: impl FnMut(Vec<u8>) -> bool + Send,
) -> Result<u64, ApiError> {
    let custom = custom_columns(conn)?;
    if opts.format == Format::Xlsx {
        return super::xlsx::write(conn, filter, &custom, sink);
    }
    let mut head = Vec::new();
    if opts.format == Format::Csv {
        if opts.bom {
            head.extend_from_slice("\u{feff}".as_bytes());
        }
        let names = COLUMNS.iter().copied().chain(custom.iter().map(|d| d.label.as_str()));
        let mut w = csv::WriterBuilder::new().delimiter(opts.delimiter).from_writer(head);
        w.write_record(names).map_err(ApiError::internal)?;
        head = w.into_inner().map_err(ApiError::internal)?;
    }
    if !head.is_empty() && !sink(head) {
        return Ok(0);
    }
    pages(conn, filter, |cards| {
        let bytes = match opts.format {
            Format::Ndjson => {
                let mut out = Vec::new();
                for c in cards {
                    serde_json::to_writer(&mut out, c).map_err(ApiError::internal)?;
                    out.push(b'\n');
                }
                out
            }
            _ => {
                let mut w =
                    csv::WriterBuilder::new().delimiter(opts.delimiter).from_writer(Vec::with_capacity(256 * 1024));
                let mut scratch = String::new();
                for c in cards {
                    write_record(&mut w, c, &custom, &mut scratch).map_err(ApiError::internal)?;
                }
                w.into_inner().map_err(ApiError::internal)?
            }
        };
        Ok(sink(bytes))
    })
}

/// Starts an export: records its start, then pages through the base on a blocking thread and
/// returns the stream of its chunks. The bounded channel keeps at most a few chunks in memory
/// and stalls the producer while the reader is slow; the end (rows or error) is put on record.
pub async fn start(
    pool: Pool,
    caller: Caller,
    filter: ClientFilter,
    opts: Options,
    query: String,
) -> Result<impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>>, ApiError> {
    let format_name = opts.format.name();
    let started = serde_json::json!({ "format": format_name, "query": query });
    let who = caller.clone();
    db::run(&pool, move |conn| {
        Ok(audit::record(
            conn,
            &who,
            Entry { action: "clients.export", allowed: true, target: None, details: started },
        )?)
    })
    .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut conn = match db::connection(&pool) {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        let result = write(&mut conn, &filter, opts, |chunk| tx.blocking_send(Ok(bytes::Bytes::from(chunk))).is_ok());
        let details = match &result {
            Ok(rows) => serde_json::json!({ "format": format_name, "rows": rows, "query": query }),
            Err(e) => serde_json::json!({ "format": format_name, "error": e.to_string() }),
        };
        if let Err(e) = audit::record(
            &mut conn,
            &caller,
            Entry { action: "clients.export.completed", allowed: true, target: None, details },
        ) {
            tracing::warn!(error = %e, "could not record the end of an export");
        }
        if let Err(e) = result {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    Ok(futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_cells_are_neutralised() {
        assert_eq!(cell("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(cell("+74852123456"), "'+74852123456");
        assert_eq!(cell("-1"), "'-1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("ООО Ромашка"), "ООО Ромашка");
    }
}
