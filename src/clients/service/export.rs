//! Exporting the base: every client matching the list filters, in id order, a thousand at a
//! time, so memory stays flat whatever the size. CSV is Excel-friendly (UTF-8 BOM, `;` on
//! request) and safe against formula injection; NDJSON carries the full cards; XLSX is a real
//! workbook with typed cells, written in constant memory and streamed out as it is zipped.

use diesel::prelude::*;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::audit::{self, Entry};
use crate::auth::Caller;
use crate::clients::model::{Client, ClientRow};
use crate::clients::repo::{matching, to_clients, ClientFilter};
use crate::custom_fields::values::cell_text;
use crate::custom_fields::{CustomEntity, Definition};
use crate::db::schema::clients;
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
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_string(),
    }
}

/// The live client custom fields, exported after the fixed columns under their labels.
pub(super) fn custom_columns(conn: &mut DbConn) -> Result<Vec<Definition>, ApiError> {
    let schema = crate::custom_fields::repo::schema(conn, CustomEntity::Client)?;
    Ok(schema.fields.into_iter().filter(|d| !d.archived).collect())
}

fn record(c: &Client, custom: &[Definition]) -> Vec<String> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    vec![
        c.id.to_string(),
        c.kind.as_str().to_string(),
        c.name.clone(),
        opt(&c.legal_name),
        opt(&c.inn),
        c.status.as_str().to_string(),
        opt(&c.lost_reason),
        opt(&c.channel),
        opt(&c.region),
        opt(&c.industry),
        opt(&c.source),
        c.owner_id.map(|o| o.to_string()).unwrap_or_default(),
        c.tags.join(", "),
        c.phones.iter().map(|p| p.number.as_str()).collect::<Vec<_>>().join(", "),
        c.emails.iter().map(|e| e.address.as_str()).collect::<Vec<_>>().join(", "),
        c.mailing_consent.to_string(),
        opt(&c.estimated_potential),
        c.purchases.revenue.clone(),
        c.purchases.last_purchase_on.map(|d| d.to_string()).unwrap_or_default(),
        c.external_ids.iter().map(|(s, e)| format!("{s}:{e}")).collect::<Vec<_>>().join(", "),
        c.created_at.to_rfc3339(),
        c.updated_at.to_rfc3339(),
        crate::clients::model::roles_text(&c.roles),
    ]
    .into_iter()
    .chain(custom.iter().map(|d| c.custom_fields.get(&d.key).map(cell_text).unwrap_or_default()))
    .map(|v| cell(&v))
    .collect()
}

fn csv_bytes(rows: &[Vec<String>], delimiter: u8) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
    for r in rows {
        w.write_record(r).map_err(ApiError::internal)?;
    }
    w.into_inner().map_err(ApiError::internal)
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
        let rows: Vec<ClientRow> = matching(filter, conn.backend())
            .filter(clients::id.gt(last))
            .order(clients::id.asc())
            .limit(CHUNK)
            .load(conn)?;
        let Some(tail) = rows.last() else { break };
        last = tail.id;
        let n = rows.len();
        let cards = to_clients(conn, rows)?;
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
        let names = COLUMNS.iter().map(|c| c.to_string()).chain(custom.iter().map(|d| d.label.clone()));
        head.extend(csv_bytes(&[names.collect()], opts.delimiter)?);
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
            _ => csv_bytes(&cards.iter().map(|c| record(c, &custom)).collect::<Vec<_>>(), opts.delimiter)?,
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
