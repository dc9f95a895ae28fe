//! The Russian taxpayer number (ИНН): 10 digits for organisations, 12 for individuals, with
//! check digits computed from fixed weights.

const W10: [u32; 9] = [2, 4, 10, 3, 5, 9, 4, 6, 8];
const W11: [u32; 10] = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
const W12: [u32; 11] = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8];

fn check_digit(digits: &[u32], weights: &[u32]) -> u32 {
    digits.iter().zip(weights).map(|(d, w)| d * w).sum::<u32>() % 11 % 10
}

/// `Err` explains why the value is not a valid INN.
pub fn validate(inn: &str) -> Result<(), &'static str> {
    if !inn.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must contain digits only");
    }
    let d: Vec<u32> = inn.bytes().map(|b| u32::from(b - b'0')).collect();
    let ok = match d.len() {
        10 => check_digit(&d[..9], &W10) == d[9],
        12 => check_digit(&d[..10], &W11) == d[10] && check_digit(&d[..11], &W12) == d[11],
        _ => return Err("must have 10 digits (organisation) or 12 digits (individual)"),
    };
    if ok {
        Ok(())
    } else {
        Err("has a wrong check digit")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_numbers_and_rejects_typos() {
        assert!(validate("7707083893").is_ok()); // Sberbank
        assert!(validate("500100732259").is_ok());
        assert!(validate("7707083894").is_err());
        assert!(validate("500100732258").is_err());
        assert!(validate("12345").is_err());
        assert!(validate("77070838ab").is_err());
    }
}
