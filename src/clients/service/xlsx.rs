//! The export as an Excel workbook: a bold, frozen header with an autofilter and typed cells
//! (numbers, money as numbers, dates as dates, booleans). The worksheet is written in
//! constant memory — its rows go to a temporary file as they come — and the zip is streamed to
//! the reader as it is assembled. A base larger than a sheet's 1 048 575 rows continues on the
//! next sheet.

use std::io::Write;

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::export::{pages, COLUMNS};
use crate::clients::model::Client;
use crate::clients::repo::ClientFilter;
use crate::custom_fields::values::cell_text;
use crate::custom_fields::{Definition, FieldType};
use crate::db::DbConn;
use crate::error::ApiError;

/// Rows of data a sheet takes below its header.
const SHEET_ROWS: u32 = 1_048_575;
/// Bytes handed to the reader at a time.
const FLUSH: usize = 64 * 1024;

fn xlsx_error(e: XlsxError) -> ApiError {
    ApiError::internal(format!("writing the workbook: {e}"))
}

/// Hands the zip's bytes to the sink in pieces; a sink that answers false (the reader went
/// away) stops the writing.
struct SinkWriter<F: FnMut(Vec<u8>) -> bool> {
    sink: F,
    buf: Vec<u8>,
}

impl<F: FnMut(Vec<u8>) -> bool> Write for SinkWriter<F> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= FLUSH {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() && !(self.sink)(std::mem::take(&mut self.buf)) {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader went away"));
        }
        Ok(())
    }
}

struct Formats {
    header: Format,
    money: Format,
    date: Format,
    datetime: Format,
}

fn new_sheet<'a>(
    workbook: &'a mut Workbook,
    f: &Formats,
    custom: &[Definition],
) -> Result<&'a mut Worksheet, XlsxError> {
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    let names = COLUMNS.iter().map(|c| c.to_string()).chain(custom.iter().map(|d| d.label.clone()));
    for (col, name) in names.enumerate() {
        sheet.write_string_with_format(0, col as u16, name, &f.header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(sheet)
}

fn money(value: &str) -> Option<f64> {
    value.parse::<f64>().ok()
}

/// A custom field's value in its cell type: numbers and decimals as numbers, dates as dates,
/// booleans as booleans, the rest as text.
fn write_custom(
    sheet: &mut Worksheet,
    row: u32,
    col: u16,
    d: &Definition,
    value: &serde_json::Value,
    f: &Formats,
) -> Result<(), XlsxError> {
    let text = cell_text(value);
    let number = || text.parse::<f64>().ok();
    let day = || chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok();
    match d.field_type {
        FieldType::Number | FieldType::Decimal if number().is_some() => {
            sheet.write_number(row, col, number().unwrap_or_default())?;
        }
        FieldType::Date if day().is_some() => {
            sheet.write_datetime_with_format(row, col, day().unwrap_or_default(), &f.date)?;
        }
        _ if value.is_boolean() => {
            sheet.write_boolean(row, col, value.as_bool().unwrap_or_default())?;
        }
        _ if !text.is_empty() => {
            sheet.write_string(row, col, text)?;
        }
        _ => {}
    }
    Ok(())
}

fn write_card(
    sheet: &mut Worksheet,
    row: u32,
    c: &Client,
    custom: &[Definition],
    f: &Formats,
) -> Result<(), XlsxError> {
    for (i, d) in custom.iter().enumerate() {
        if let Some(value) = c.custom_fields.get(&d.key) {
            write_custom(sheet, row, (COLUMNS.len() + i) as u16, d, value, f)?;
        }
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let strings: [(u16, String); 15] = [
        (1, c.kind.as_str().to_string()),
        (2, c.name.clone()),
        (3, text(&c.legal_name)),
        (4, text(&c.inn)),
        (5, c.status.as_str().to_string()),
        (6, text(&c.lost_reason)),
        (7, text(&c.channel)),
        (8, text(&c.region)),
        (9, text(&c.industry)),
        (10, text(&c.source)),
        (12, c.tags.join(", ")),
        (13, c.phones.iter().map(|p| p.number.as_str()).collect::<Vec<_>>().join(", ")),
        (14, c.emails.iter().map(|e| e.address.as_str()).collect::<Vec<_>>().join(", ")),
        (22, crate::clients::model::roles_text(&c.roles)),
        (19, c.external_ids.iter().map(|(s, e)| format!("{s}:{e}")).collect::<Vec<_>>().join(", ")),
    ];
    sheet.write_number(row, 0, c.id as f64)?;
    for (col, value) in strings {
        if !value.is_empty() {
            sheet.write_string(row, col, value)?;
        }
    }
    if let Some(owner) = c.owner_id {
        sheet.write_number(row, 11, owner as f64)?;
    }
    sheet.write_boolean(row, 15, c.mailing_consent)?;
    if let Some(p) = c.estimated_potential.as_deref().and_then(money) {
        sheet.write_number_with_format(row, 16, p, &f.money)?;
    }
    if let Some(r) = money(&c.purchases.revenue) {
        sheet.write_number_with_format(row, 17, r, &f.money)?;
    }
    if let Some(d) = c.purchases.last_purchase_on {
        sheet.write_datetime_with_format(row, 18, d, &f.date)?;
    }
    sheet.write_datetime_with_format(row, 20, c.created_at.naive_utc(), &f.datetime)?;
    sheet.write_datetime_with_format(row, 21, c.updated_at.naive_utc(), &f.datetime)?;
    Ok(())
}

/// Writes the matching clients as a workbook to `sink`; returns how many were written.
pub fn write(
    conn: &mut DbConn,
    filter: &ClientFilter,
    custom: &[Definition],
    sink: impl FnMut(Vec<u8>) -> bool + Send,
) -> Result<u64, ApiError> {
    let f = Formats {
        header: Format::new().set_bold(),
        money: Format::new().set_num_format("#,##0.00"),
        date: Format::new().set_num_format("yyyy-mm-dd"),
        datetime: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
    };
    let mut workbook = Workbook::new();
    let last_col = (COLUMNS.len() + custom.len() - 1) as u16;
    let mut sheets = 0usize;
    let mut row = SHEET_ROWS + 1;
    let written = pages(conn, filter, |cards| {
        for c in cards {
            if row > SHEET_ROWS {
                if sheets > 0 {
                    let done = workbook.worksheet_from_index(sheets - 1).map_err(xlsx_error)?;
                    done.autofilter(0, 0, SHEET_ROWS, last_col).map_err(xlsx_error)?;
                }
                new_sheet(&mut workbook, &f, custom).map_err(xlsx_error)?;
                sheets += 1;
                row = 1;
            }
            let sheet = workbook.worksheet_from_index(sheets - 1).map_err(xlsx_error)?;
            write_card(sheet, row, c, custom, &f).map_err(xlsx_error)?;
            row += 1;
        }
        Ok(true)
    })?;
    if sheets == 0 {
        new_sheet(&mut workbook, &f, custom).map_err(xlsx_error)?;
        sheets = 1;
        row = 1;
    }
    let sheet = workbook.worksheet_from_index(sheets - 1).map_err(xlsx_error)?;
    sheet.autofilter(0, 0, row.saturating_sub(1).max(1), last_col).map_err(xlsx_error)?;
    let mut out = SinkWriter { sink, buf: Vec::with_capacity(FLUSH) };
    match workbook.save_to_writer(&mut out) {
        Ok(()) => {}
        // The reader left: nothing more to do.
        Err(XlsxError::IoError(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(written),
        Err(e) => return Err(xlsx_error(e)),
    }
    let _ = out.flush();
    Ok(written)
}
