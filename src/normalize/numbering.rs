//! Phone validity by the numbering plans of libphonenumber's metadata (the copy the
//! `phonenumber` crate carries), compiled once per country code into anchored regexes.
//!
//! The crate's own parse and `is_valid` run the same patterns unanchored through one
//! process-wide, mutex-guarded 100-entry regex cache: that made phone checks about a fifth of
//! the server's time on a sync batch. Here the common shapes — `+` and digits, or a national
//! number of the configured region — are answered from the compiled plans; anything else, and
//! every number these plans do not find valid, is left to the crate, so the result is always
//! the crate's own (a test compares the two over many generated numbers).

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

use phonenumber::country::Id as Region;
use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use regex::{Regex, RegexBuilder};

/// The E.164 form of `raw` when it is plainly a valid number; `None` means "ask the crate".
pub fn e164(raw: &str, region: Region) -> Option<String> {
    let raw = raw.trim();
    let (international, rest) = match raw.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    if !rest.chars().all(|c| c.is_ascii_digit() || " -().".contains(c)) {
        return None;
    }
    let digits = super::phone::digits(rest);
    let home_code = DATABASE.by_id(region.as_ref())?.country_code();
    let home = plans(home_code)?.iter().find(|p| p.region == region.as_ref())?;
    if international {
        let (code, national) = split_code(&digits)?;
        // The crate strips the home region's national prefix even after a foreign code.
        if home.national_prefix.as_ref().is_some_and(|re| re.is_match(national))
            || home.dialled_prefix.as_deref().is_some_and(|d| national.starts_with(d))
        {
            return None;
        }
        return valid(plans(code)?, national).then(|| format!("+{digits}"));
    }
    // Numbers dialled abroad, written with their country code, or whose national prefix is
    // rewritten rather than dropped take the crate's longer road.
    if digits.starts_with(&home_code.to_string())
        || home.international_prefix.as_ref().is_some_and(|re| re.is_match(&digits))
        || home.rewrites_prefix
    {
        return None;
    }
    let national = home.without_prefix(&digits)?;
    valid(plans(home_code)?, national).then(|| format!("+{home_code}{national}"))
}

/// Country codes are prefix-free: the first one to three digits that name one are it.
fn split_code(digits: &str) -> Option<(u16, &str)> {
    (1..=3.min(digits.len())).find_map(|len| {
        let code: u16 = digits[..len].parse().ok()?;
        DATABASE.region(&code).map(|_| (code, &digits[len..]))
    })
}

/// What `phonenumber::is_valid` decides: the region of the code that claims the number (by
/// leading digits, else the first whose patterns it matches) must know it as some type.
fn valid(plans: &[Plan], national: &str) -> bool {
    if let [only] = plans {
        return only.knows(national);
    }
    for plan in plans {
        match &plan.leading_digits {
            Some(re) if re.is_match(national) => return plan.knows(national),
            Some(_) => {}
            None if plan.knows(national) => return true,
            None => {}
        }
    }
    false
}

/// One region's rules, in the order the crate reads them.
struct Plan {
    region: String,
    leading_digits: Option<Regex>,
    international_prefix: Option<Regex>,
    /// What the crate strips from a national number, with the dialled prefix after it.
    national_prefix: Option<Regex>,
    dialled_prefix: Option<String>,
    rewrites_prefix: bool,
    general: Pattern,
    types: Vec<Pattern>,
}

impl Plan {
    fn of(meta: &Metadata) -> Option<Plan> {
        let d = meta.descriptors();
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        Some(Plan {
            region: meta.id().to_string(),
            leading_digits: meta.leading_digits().map(|re| anchored(re.as_str())).transpose().ok()?,
            international_prefix: meta.international_prefix().map(|re| anchored(re.as_str())).transpose().ok()?,
            national_prefix: meta.national_prefix_for_parsing().map(|re| anchored(re.as_str())).transpose().ok()?,
            dialled_prefix: meta.national_prefix().map(str::to_string),
            rewrites_prefix: meta.national_prefix_transform_rule().is_some(),
            general: Pattern::of(d.general())?,
            types: types.into_iter().flatten().map(Pattern::of).collect::<Option<_>>()?,
        })
    }

    /// The national number the crate reads from `digits` written in this region: what the
    /// prefix pattern matches at the start is dropped (the crate's viability check compares the
    /// number with itself, so it always is), then the dialled prefix once more. `None` where the
    /// crate would keep the digits as they were (what is left is too short).
    fn without_prefix<'d>(&self, digits: &'d str) -> Option<&'d str> {
        let mut national = match &self.national_prefix {
            Some(re) => re.find(digits).map_or(digits, |m| &digits[m.end()..]),
            None => self.strip_dialled(digits),
        };
        national = self.strip_dialled(national);
        let shortest = self.general.lengths.iter().min().copied().unwrap_or(0) as usize;
        (national.len() == digits.len() || national.len() >= shortest).then_some(national)
    }

    fn strip_dialled<'d>(&self, national: &'d str) -> &'d str {
        self.dialled_prefix.as_deref().and_then(|p| national.strip_prefix(p)).unwrap_or(national)
    }

    fn knows(&self, national: &str) -> bool {
        self.general.matches(national) && self.types.iter().any(|t| t.matches(national))
    }
}

/// A number-type pattern and the lengths it allows (none listed: any).
struct Pattern {
    regex: Regex,
    lengths: Vec<u16>,
}

impl Pattern {
    fn of(desc: &Descriptor) -> Option<Pattern> {
        Some(Pattern {
            regex: anchored(desc.national_number().as_str()).ok()?,
            lengths: desc.possible_length().to_vec(),
        })
    }

    fn matches(&self, national: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(national.len() as u16))) && self.regex.is_match(national)
    }
}

/// The crate accepts a pattern where its leftmost match starts the text (whitespace in the
/// pattern ignored): the same as anchoring it at the start.
fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(&format!("^(?:{pattern})")).ignore_whitespace(true).build()
}

/// The plans of a country code, compiled on first use (`None`: unknown code, or metadata this
/// module cannot compile — the crate then answers).
fn plans(code: u16) -> Option<&'static [Plan]> {
    static PLANS: LazyLock<HashMap<u16, OnceLock<Option<Vec<Plan>>>>> =
        LazyLock::new(|| DATABASE.iter().map(|m| (m.country_code(), OnceLock::new())).collect());
    PLANS
        .get(&code)?
        .get_or_init(|| {
            let regions = DATABASE.region(&code)?;
            regions
                .iter()
                .map(|id| match *id {
                    "001" => DATABASE.by_code(&code)?.into_iter().next().and_then(Plan::of),
                    id => DATABASE.by_id(id).and_then(Plan::of),
                })
                .collect()
        })
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_shapes_are_answered_here() {
        assert_eq!(e164("+7 916 123-45-67", Region::RU).as_deref(), Some("+79161234567"));
        assert_eq!(e164("8 (916) 123-45-67", Region::RU).as_deref(), Some("+79161234567"));
        assert_eq!(e164("8 (4852) 12-34-56", Region::RU).as_deref(), Some("+74852123456"));
        // Kazakhstan shares +7: its numbers are claimed by leading digits.
        assert_eq!(e164("+7 701 123 4567", Region::RU).as_deref(), Some("+77011234567"));
        assert_eq!(e164("+39 06 6982 1234", Region::RU).as_deref(), Some("+390669821234"));
        // Not plainly valid: the crate decides.
        assert_eq!(e164("74852123456", Region::RU), None);
        assert_eq!(e164("+7 8 916 123-45-67", Region::RU), None);
        assert_eq!(e164("+7 016 123-45-67", Region::RU), None);
        assert_eq!(e164("tel:+79161234567", Region::RU), None);
    }
}
