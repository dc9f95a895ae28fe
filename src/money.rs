//! Money is exact: decimal strings with up to two fraction digits in the API, integer minor
//! units (kopecks, cents) in storage.

/// Parses `"1234.5"`, `"-10"`, `"0.05"` into minor units.
pub fn parse_minor(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let invalid = || format!("'{s}' is not an amount like 1234.56");
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    if fraction.len() > 2 || (digits.contains('.') && fraction.is_empty()) {
        return Err(format!("'{s}' has more than two decimal places"));
    }
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| invalid())?;
    let value = whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(cents))
        .filter(|v| *v <= MAX_MINOR)
        .ok_or_else(|| format!("'{s}' is too large"))?;
    Ok(if negative { -value } else { value })
}

/// What `parse_minor` accepts, as the amount fields of the contract declare it: up to 13 whole
/// digits (below the largest amount) and two decimals.
pub const AMOUNT_PATTERN: &str = r"^-?[0-9]{1,13}(\.[0-9]{1,2})?$";

/// The largest amount accepted: sums of many amounts must still fit in 64 bits.
const MAX_MINOR: i64 = 1_000_000_000_000_000;

pub fn format_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_exactly() {
        for (text, minor) in [("0", 0), ("1234.5", 123450), ("-10.05", -1005), ("0.99", 99), ("7.00", 700)] {
            assert_eq!(parse_minor(text).unwrap(), minor, "{text}");
        }
        assert_eq!(format_minor(123450), "1234.50");
        assert_eq!(format_minor(-5), "-0.05");
        for bad in ["", "1.234", "abc", "1,5", "1.", ".5", "--1", "99999999999999999999"] {
            assert!(parse_minor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_declared_pattern_accepts_only_amounts() {
        let pattern = regex::Regex::new(AMOUNT_PATTERN).unwrap();
        for text in ["0", "-0.5", "1234.56", "9999999999999.99", "-9999999999999", "007"] {
            assert!(pattern.is_match(text) && parse_minor(text).is_ok(), "{text}");
        }
        for text in ["", "1.", ".5", "1.234", "10000000000000", "+1", " 1"] {
            assert!(!pattern.is_match(text), "{text}");
        }
    }
}
