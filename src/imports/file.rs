//! Reading an uploaded spreadsheet row by row: the format from the file's first bytes, CSV in
//! UTF-8 (with or without BOM), UTF-16 or Windows-1251 with its delimiter guessed, XLSX through
//! calamine's cell reader (the sheet's XML is streamed, its cells are never all held). Empty
//! rows are skipped; every reader numbers the same rows the same way.

use std::borrow::Cow;
use std::io::Cursor;

use calamine::{DataRef, Reader, Xlsx};

use super::model::{Column, FileFormat};
use crate::error::ApiError;

/// Data rows an import may have.
pub const MAX_ROWS: i64 = 1_000_000;
const MAX_COLUMNS: usize = 500;
const SAMPLES: usize = 5;

/// The format of the bytes: a zip is a workbook, an OLE file is an encrypted workbook (Excel
/// wraps password-protected ones so) or a legacy `.xls`, text is CSV.
pub fn detect(bytes: &[u8]) -> Result<FileFormat, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::Unprocessable("the file is empty".into()));
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Ok(FileFormat::Xlsx);
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(ApiError::Unprocessable(
            "the file is a password-protected workbook or a legacy .xls: save it as .xlsx without a password, or as CSV"
                .into(),
        ));
    }
    let head = &bytes[..bytes.len().min(8192)];
    let utf16 = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
    if !utf16 && head.contains(&0) {
        return Err(ApiError::Unprocessable("the file is neither CSV nor XLSX".into()));
    }
    Ok(FileFormat::Csv)
}

/// The text of a CSV file: UTF-8 (a BOM is dropped), UTF-16 by its BOM, else Windows-1251 —
/// what Russian Excel writes as "CSV (разделители — точка с запятой)".
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return String::from_utf8_lossy(rest);
    }
    if bytes.starts_with(&[0xFF, 0xFE]) {
        return encoding_rs::UTF_16LE.decode_with_bom_removal(bytes).0;
    }
    if bytes.starts_with(&[0xFE, 0xFF]) {
        return encoding_rs::UTF_16BE.decode_with_bom_removal(bytes).0;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => encoding_rs::WINDOWS_1251.decode_without_bom_handling(bytes).0,
    }
}

/// The delimiter of the header line: the most frequent of `;`, `,` and tab outside quotes.
pub fn delimiter(text: &str) -> u8 {
    let line = text.lines().next().unwrap_or("");
    let mut counts = [(b';', 0usize), (b',', 0), (b'\t', 0)];
    let mut quoted = false;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (d, n) in counts.iter_mut() {
                if b == *d {
                    *n += 1;
                }
            }
        }
    }
    counts.iter().max_by_key(|(_, n)| *n).filter(|(_, n)| *n > 0).map_or(b',', |(d, _)| *d)
}

/// Calls `row` with every non-empty row, the header first; `row` answers false to stop.
/// Returns the worksheet read (XLSX).
pub fn rows(
    bytes: &[u8],
    format: FileFormat,
    sheet: Option<&str>,
    mut row: impl FnMut(Vec<String>) -> Result<bool, ApiError>,
) -> Result<Option<String>, ApiError> {
    match format {
        FileFormat::Csv => {
            let text = decode(bytes);
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter(&text))
                .has_headers(false)
                .flexible(true)
                .from_reader(text.as_bytes());
            for record in reader.records() {
                let record = record.map_err(|e| ApiError::Unprocessable(format!("the CSV cannot be read: {e}")))?;
                let cells: Vec<String> = record.iter().map(|c| c.trim().to_string()).collect();
                if cells.iter().all(|c| c.is_empty()) {
                    continue;
                }
                if !row(cells)? {
                    break;
                }
            }
            Ok(None)
        }
        FileFormat::Xlsx => xlsx_rows(bytes, sheet, row).map(Some),
    }
}

fn unreadable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unprocessable(format!("the file is not a readable XLSX workbook: {e}"))
}

fn xlsx_rows(
    bytes: &[u8],
    sheet: Option<&str>,
    mut row: impl FnMut(Vec<String>) -> Result<bool, ApiError>,
) -> Result<String, ApiError> {
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let names = book.sheet_names();
    let name = match sheet {
        Some(s) if names.iter().any(|n| n == s) => s.to_string(),
        Some(s) => {
            return Err(ApiError::field(
                "sheet",
                format!("the workbook has no sheet '{s}' (it has: {})", names.join(", ")),
            ))
        }
        None => names.first().cloned().ok_or_else(|| ApiError::Unprocessable("the workbook has no sheets".into()))?,
    };
    let mut cells = book.worksheet_cells_reader(&name).map_err(unreadable)?;
    let mut current: Option<u32> = None;
    let mut values: Vec<String> = Vec::new();
    let flush = |values: &mut Vec<String>, row: &mut dyn FnMut(Vec<String>) -> Result<bool, ApiError>| {
        let taken = std::mem::take(values);
        if taken.iter().all(|c| c.is_empty()) {
            return Ok(true);
        }
        row(taken)
    };
    while let Some(cell) = cells.next_cell().map_err(unreadable)? {
        let (r, c) = cell.get_position();
        if current != Some(r) {
            if current.is_some() && !flush(&mut values, &mut row)? {
                return Ok(name);
            }
            current = Some(r);
        }
        let c = c as usize;
        if c >= MAX_COLUMNS {
            continue;
        }
        let text = cell_text(cell.get_value());
        if text.is_empty() {
            continue;
        }
        if values.len() <= c {
            values.resize(c + 1, String::new());
        }
        values[c] = text;
    }
    flush(&mut values, &mut row)?;
    Ok(name)
}

/// A cell as text: whole numbers without a fraction (INNs and phones are often numbers in
/// Excel), dates as ISO dates, date-times as ISO date-times.
pub fn cell_text(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::String(s) => s.trim().to_string(),
        DataRef::SharedString(s) => s.trim().to_string(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) if d.is_datetime() => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.date().to_string(),
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
            None => number_text(d.as_f64()),
        },
        DataRef::DateTime(d) => number_text(d.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => e.to_string(),
        DataRef::Empty => String::new(),
    }
}

fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}

/// What the upload shows of a file: the header, the data rows' count, samples per column.
#[derive(Debug)]
pub struct Survey {
    pub sheet: Option<String>,
    pub columns: Vec<Column>,
    pub rows: i64,
}

/// Reads the whole file once: the header must be there, its texts non-empty and distinct.
pub fn survey(bytes: &[u8], format: FileFormat, sheet: Option<&str>) -> Result<Survey, ApiError> {
    let mut columns: Vec<Column> = Vec::new();
    let mut header_seen = false;
    let mut count = 0i64;
    let sheet = rows(bytes, format, sheet, |cells| {
        if !header_seen {
            header_seen = true;
            columns = header(cells)?;
            return Ok(true);
        }
        count += 1;
        if count > MAX_ROWS {
            return Err(ApiError::Unprocessable(format!("the file has more than {MAX_ROWS} rows")));
        }
        for (col, value) in columns.iter_mut().zip(cells) {
            if !value.is_empty() && col.samples.len() < SAMPLES && !col.samples.contains(&value) {
                col.samples.push(value);
            }
        }
        Ok(true)
    })?;
    if !header_seen {
        return Err(ApiError::Unprocessable("the sheet is empty: a header row is needed".into()));
    }
    if count == 0 {
        return Err(ApiError::Unprocessable("the file has a header but no rows".into()));
    }
    Ok(Survey { sheet, columns, rows: count })
}

fn header(cells: Vec<String>) -> Result<Vec<Column>, ApiError> {
    let mut seen: Vec<&str> = Vec::new();
    let last = cells.iter().rposition(|c| !c.is_empty()).map_or(0, |i| i + 1);
    for (i, c) in cells[..last].iter().enumerate() {
        if c.is_empty() {
            return Err(ApiError::Unprocessable(format!("column {} of the header row has no title", i + 1)));
        }
        let key = c.to_lowercase();
        if seen.iter().any(|s| s.to_lowercase() == key) {
            return Err(ApiError::Unprocessable(format!("the header row names the column '{c}' twice")));
        }
        seen.push(c);
    }
    Ok(cells[..last].iter().map(|h| Column { header: h.clone(), samples: Vec::new() }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_their_first_bytes() {
        assert_eq!(detect(b"PK\x03\x04rest").unwrap(), FileFormat::Xlsx);
        assert_eq!(detect("Имя;ИНН\n".as_bytes()).unwrap(), FileFormat::Csv);
        assert!(detect(&[0xD0, 0xCF, 0x11, 0xE0, 0, 0]).unwrap_err().to_string().contains("password"));
        assert!(detect(b"\x89PNG\r\n\x1a\n\0\0").unwrap_err().to_string().contains("neither"));
        assert!(detect(b"").is_err());
    }

    #[test]
    fn windows_1251_and_bom_are_decoded() {
        let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode("Наименование;ИНН");
        assert_eq!(decode(&cp1251), "Наименование;ИНН");
        assert_eq!(decode("\u{feff}Имя".as_bytes()), "Имя");
        assert_eq!(delimiter("a;b;\"c,d\"\n1,2"), b';');
        assert_eq!(delimiter("a\tb\n"), b'\t');
        assert_eq!(delimiter("single\n"), b',');
    }

    #[test]
    fn survey_counts_rows_and_refuses_bad_headers() {
        let s = survey("Имя;ИНН\nА;1\n;\nБ;2\nВ;1\n".as_bytes(), FileFormat::Csv, None).unwrap();
        assert_eq!(s.rows, 3);
        assert_eq!(s.columns[1].samples, vec!["1", "2"]);
        assert!(survey(b"a;A\n1;2\n", FileFormat::Csv, None).unwrap_err().to_string().contains("twice"));
        assert!(survey(b"a;;b\n1;2;3\n", FileFormat::Csv, None).unwrap_err().to_string().contains("no title"));
        assert!(survey(b"\n\n", FileFormat::Csv, None).unwrap_err().to_string().contains("empty"));
        assert_eq!(number_text(7707083893.0), "7707083893");
        assert_eq!(number_text(1.5), "1.5");
    }
}
