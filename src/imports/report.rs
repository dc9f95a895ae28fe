//! The errors report: the rejected rows exactly as uploaded, with a last column of reasons
//! (each naming the column it is about), as CSV (UTF-8 with BOM, `;`, as Russian Excel opens
//! it) or as an XLSX workbook written in constant memory — fixed in Excel and uploaded again.

use std::collections::HashMap;

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::file;
use super::model::{FileFormat, ImportRow};
use crate::error::{ApiError, FieldError};

pub const REASONS: &str = "Ошибки / errors";

/// The reasons as one text: `ИНН: checksum…; phones[0].number (Телефон): …`.
fn reasons_text(json: &str, columns: &HashMap<String, String>) -> String {
    let errors: Vec<FieldError> = serde_json::from_str(json).unwrap_or_default();
    errors
        .iter()
        .map(|e| {
            // `client.inn` of a contact's or sale's row is about the column mapped to it.
            let (prefix, rest) = match e.field.strip_prefix("client.") {
                Some(rest) => ("client.", rest),
                None => ("", e.field.as_str()),
            };
            let base = rest.split(['[', '.']).next().unwrap_or(rest);
            let base = format!("{prefix}{}", if base == "owner_id" { "owner" } else { base });
            let named = base.as_str();
            match columns.get(named) {
                Some(header) if named == e.field => format!("{header}: {}", e.message),
                Some(header) => format!("{} ({header}): {}", e.field, e.message),
                None => format!("{}: {}", e.field, e.message),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Calls `row` with the header (plus the reasons column) and every rejected row.
fn rejected_rows(
    import: &ImportRow,
    content: &[u8],
    rejected: &HashMap<i64, String>,
    mut row: impl FnMut(Vec<String>) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    let settings = import.settings();
    let columns: HashMap<String, String> = settings.mapping.iter().map(|(h, f)| (f.clone(), h.clone())).collect();
    let width = import.headers().len();
    let mut number = -1i64;
    file::rows(content, FileFormat::parse(&import.format), import.sheet.as_deref(), |mut cells| {
        number += 1;
        let reasons = match number {
            0 => Some(REASONS.to_string()),
            n => rejected.get(&n).map(|r| reasons_text(r, &columns)),
        };
        if let Some(reasons) = reasons {
            cells.resize(width.max(cells.len()), String::new());
            cells.push(reasons);
            row(cells)?;
        }
        Ok(true)
    })?;
    Ok(())
}

pub fn csv(import: &ImportRow, content: &[u8], rejected: &HashMap<i64, String>) -> Result<Vec<u8>, ApiError> {
    let mut out = csv::WriterBuilder::new().delimiter(b';').flexible(true).from_writer(b"\xEF\xBB\xBF".to_vec());
    rejected_rows(import, content, rejected, |cells| {
        out.write_record(&cells).map_err(|e| ApiError::internal(format!("writing the report: {e}")))
    })?;
    out.into_inner().map_err(|e| ApiError::internal(format!("writing the report: {e}")))
}

pub fn xlsx(import: &ImportRow, content: &[u8], rejected: &HashMap<i64, String>) -> Result<Vec<u8>, ApiError> {
    let fail = |e: XlsxError| ApiError::internal(format!("writing the report: {e}"));
    let mut workbook = Workbook::new();
    let header = Format::new().set_bold();
    let sheet = workbook.add_worksheet_with_constant_memory().map_err(fail)?;
    sheet.set_name("errors").map_err(fail)?;
    let mut r = 0u32;
    let mut width = 0u16;
    rejected_rows(import, content, rejected, |cells| {
        for (c, value) in cells.iter().enumerate() {
            if r == 0 {
                sheet.write_string_with_format(r, c as u16, value, &header).map_err(fail)?;
            } else if !value.is_empty() {
                sheet.write_string(r, c as u16, value).map_err(fail)?;
            }
        }
        width = width.max(cells.len() as u16);
        r += 1;
        Ok(())
    })?;
    sheet.set_freeze_panes(1, 0).map_err(fail)?;
    sheet.autofilter(0, 0, r.saturating_sub(1).max(1), width.saturating_sub(1)).map_err(fail)?;
    workbook.save_to_buffer().map_err(fail)
}
