//! Emails: the validity check and the stored (lowercase) form.

use validator::ValidateEmail;

pub fn looks_like_email(s: &str) -> bool {
    s.validate_email()
}

pub fn normalize_email(s: &str) -> String {
    s.trim().to_lowercase()
}
