//! Phones: any usual written form to E.164, the digits a phone-like search term stands for,
//! and the reversed form the phone index is kept in.

use phonenumber::country::Id as Region;

/// A phone as PostgreSQL indexes it: reversed, so that one index finds a whole number and its
/// trailing digits alike.
pub fn reversed(phone: &str) -> String {
    phone.chars().rev().collect()
}

/// Normalises a phone written in any usual format to E.164, or says why it cannot.
pub fn normalize_phone(raw: &str, region: Region) -> Result<String, &'static str> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("is empty");
    }
    if trimmed.chars().filter(|c| c.is_ascii_digit()).count() < 5 {
        return Err("is too short to be a phone number");
    }
    match super::numbering::e164(trimmed, region) {
        Some(e164) => Ok(e164),
        None => parse_with_crate(trimmed, region),
    }
}

/// The `phonenumber` crate's reading, for what the compiled plans do not answer.
fn parse_with_crate(trimmed: &str, region: Region) -> Result<String, &'static str> {
    let number = phonenumber::parse(Some(region), trimmed)
        .or_else(|_| phonenumber::parse(None, format!("+{}", digits(trimmed))))
        .map_err(|_| "is not a phone number")?;
    if !phonenumber::is_valid(&number) {
        // A national number written with the country code but no '+' (74852123456).
        let plus = phonenumber::parse(None, format!("+{}", digits(trimmed))).ok();
        return match plus.filter(phonenumber::is_valid) {
            Some(n) => Ok(e164(&n)),
            None => Err("is not a valid phone number"),
        };
    }
    Ok(e164(&number))
}

/// `+`, country code, national number: what the crate's E.164 formatter prints, without the
/// pattern matching it does first for the other formats.
fn e164(number: &phonenumber::PhoneNumber) -> String {
    format!("+{}{}", number.code().value(), number.national())
}

pub fn digits(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_digit()).collect()
}

/// The digits a phone-like search term stands for, in the form stored in search text
/// (E.164 without '+'): `8 (4852) 12-34-56` → `74852123456`. `None` when `q` is not phone-like.
pub fn phone_search_digits(q: &str, region: Region) -> Option<String> {
    let phone_like = q.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
    let d = digits(q);
    if !phone_like || d.len() < 3 {
        return None;
    }
    match normalize_phone(q, region) {
        Ok(e164) => Some(e164.trim_start_matches('+').to_string()),
        Err(_) => Some(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_in_every_usual_format_normalise_alike() {
        for raw in ["8 (4852) 12-34-56", "+74852123456", "74852123456", "+7 (4852) 123-456", "84852123456"] {
            assert_eq!(normalize_phone(raw, Region::RU).unwrap(), "+74852123456", "{raw}");
        }
        assert_eq!(normalize_phone("8 916 123-45-67", Region::RU).unwrap(), "+79161234567");
        assert_eq!(normalize_phone("+44 20 7946 0958", Region::RU).unwrap(), "+442079460958");
        // Italian numbers keep their leading zero after the country code.
        assert_eq!(normalize_phone("+39 06 6982 1234", Region::RU).unwrap(), "+390669821234");
        assert!(normalize_phone("12", Region::RU).is_err());
        assert!(normalize_phone("call me", Region::RU).is_err());
    }

    /// The compiled plans answer only what the crate would answer alike: numbers made from
    /// every region's example numbers, in international and national form, varied in their
    /// last digits, are read both ways.
    #[test]
    fn compiled_plans_agree_with_the_crate() {
        use phonenumber::metadata::DATABASE;
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut answered, mut valid) = (0, 0);
        for meta in DATABASE.iter().filter(|m| m.id() != "001") {
            let region: Region = meta.id().parse().unwrap();
            let d = meta.descriptors();
            let examples = [d.fixed_line(), d.mobile(), d.toll_free(), d.voip(), d.uan(), d.premium_rate()];
            for example in examples.into_iter().flatten().filter_map(|x| x.example()) {
                for _ in 0..6 {
                    let mut number: Vec<u8> = example.bytes().collect();
                    for _ in 0..next() % 4 {
                        let at = number.len() - 1 - (next() as usize % number.len().min(4));
                        number[at] = b'0' + (next() % 10) as u8;
                    }
                    let national = String::from_utf8(number).unwrap();
                    let prefix = meta.national_prefix().unwrap_or("");
                    for raw in [
                        format!("+{} {national}", meta.country_code()),
                        format!("{prefix}{national}"),
                        format!("{prefix} ({}) {}", &national[..2], &national[2..]),
                    ] {
                        let crate_reading = parse_with_crate(&raw, region);
                        if let Some(fast) = crate::normalize::numbering::e164(&raw, region) {
                            assert_eq!(crate_reading, Ok(fast.clone()), "{raw} in {}", meta.id());
                            answered += 1;
                        }
                        valid += usize::from(crate_reading.is_ok());
                    }
                }
            }
        }
        // The plans must answer most valid numbers, or they save nothing.
        assert!(answered * 10 > valid * 7, "{answered} of {valid} valid numbers answered");
    }

    #[test]
    fn phone_like_queries_become_digits() {
        assert_eq!(phone_search_digits("8 (4852) 12-34-56", Region::RU).as_deref(), Some("74852123456"));
        assert_eq!(phone_search_digits("1234", Region::RU).as_deref(), Some("1234"));
        assert_eq!(phone_search_digits("Ромашка", Region::RU), None);
    }
}
