//! Standard Webhooks signatures: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, keyed
//! with the base64 secret after its `whsec_` prefix.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const PREFIX: &str = "whsec_";

/// A new secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

fn key(secret: &str) -> Vec<u8> {
    let raw = secret.strip_prefix(PREFIX).unwrap_or(secret);
    STANDARD.decode(raw).unwrap_or_else(|_| raw.as_bytes().to_vec())
}

/// The `v1,…` signature of one message with one secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key(secret)).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per valid secret, space-separated.
pub fn header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| sign(s, id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// Checks a signed message against any of `secrets`: the timestamp must be within `tolerance`
/// seconds of `now`, and one of the header's `v1` signatures must match (in constant time).
pub fn verify(
    secrets: &[&str],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), &'static str> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| "webhook-timestamp is not a number")?;
    if (now - ts).abs() > tolerance {
        return Err("webhook-timestamp is too old or in the future");
    }
    for secret in secrets {
        let expected = sign(secret, id, ts, body);
        for candidate in signatures.split_whitespace() {
            if candidate.starts_with("v1,") && constant_time_eq(candidate.as_bytes(), expected.as_bytes()) {
                return Ok(());
            }
        }
    }
    Err("no valid signature")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector published with the Standard Webhooks specification.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn the_published_test_vector_signs_and_verifies() {
        assert_eq!(sign(SECRET, ID, TS, BODY), SIGNATURE);
        assert!(verify(&[SECRET], ID, "1614265330", SIGNATURE, BODY, TS + 10, 300).is_ok());
    }

    #[test]
    fn tampering_staleness_and_other_secrets_fail() {
        assert!(verify(&[SECRET], ID, "1614265330", SIGNATURE, br#"{"test": 1}"#, TS, 300).is_err());
        assert!(verify(&[SECRET], "msg_other", "1614265330", SIGNATURE, BODY, TS, 300).is_err());
        assert!(verify(&[SECRET], ID, "1614265330", SIGNATURE, BODY, TS + 301, 300).is_err());
        assert!(verify(&[&new_secret()], ID, "1614265330", SIGNATURE, BODY, TS, 300).is_err());
        assert!(verify(&[SECRET], ID, "soon", SIGNATURE, BODY, TS, 300).is_err());
    }

    #[test]
    fn a_header_with_two_secrets_verifies_with_either() {
        let other = new_secret();
        assert!(other.starts_with("whsec_"));
        let h = header(&[SECRET, &other], ID, TS, BODY);
        assert!(verify(&[&other], ID, "1614265330", &h, BODY, TS, 300).is_ok());
        assert!(verify(&[SECRET], ID, "1614265330", &h, BODY, TS, 300).is_ok());
    }
}
