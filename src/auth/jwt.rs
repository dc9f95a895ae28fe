//! Access tokens: HS256 JWTs with the RFC 9068 claims. The algorithm is pinned, so `alg: none`
//! and tokens signed any other way are refused; `exp`, `iss` and `aud` are required and checked.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::auth::scopes::ScopeSet;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// `user:<id>` or `client:<client_id>`.
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    /// Space-separated scopes.
    pub scope: String,
}

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    User(i64),
    ApiClient(String),
}

impl Subject {
    pub fn to_claim(&self) -> String {
        match self {
            Subject::User(id) => format!("user:{id}"),
            Subject::ApiClient(client_id) => format!("client:{client_id}"),
        }
    }

    pub fn parse(sub: &str) -> Option<Subject> {
        if let Some(id) = sub.strip_prefix("user:") {
            return id.parse().ok().map(Subject::User);
        }
        sub.strip_prefix("client:").filter(|c| !c.is_empty()).map(|c| Subject::ApiClient(c.to_string()))
    }
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub ttl_secs: u64,
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl_secs: u64) -> JwtKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl_secs,
        }
    }

    pub fn issue(&self, subject: &Subject, scopes: ScopeSet) -> Result<String, jsonwebtoken::errors::Error> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: subject.to_claim(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + self.ttl_secs,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            scope: scopes.to_claim(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies signature, algorithm, expiry, issuer and audience; the error says which failed.
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        use jsonwebtoken::errors::ErrorKind;
        decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::InvalidAudience => "the token is for another audience",
                ErrorKind::InvalidIssuer => "the token is from another issuer",
                ErrorKind::InvalidSignature => "the token signature is invalid",
                ErrorKind::InvalidAlgorithm => "the token is not signed with the expected algorithm",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is malformed",
            }
            .to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    fn keys() -> JwtKeys {
        JwtKeys::new(b"0123456789abcdef0123456789abcdef", "clientbase", "clientbase-api", 60)
    }

    #[test]
    fn issued_tokens_verify() {
        let k = keys();
        let token = k.issue(&Subject::User(7), ScopeSet::all()).unwrap();
        let claims = k.verify(&token).unwrap();
        assert_eq!(Subject::parse(&claims.sub), Some(Subject::User(7)));
        assert!(claims.scope.contains("clients:read"));
    }

    #[test]
    fn unsigned_and_tampered_tokens_are_refused() {
        let k = keys();
        let token = k.issue(&Subject::User(7), ScopeSet::empty()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert!(k.verify(&format!("{none_header}.{}.", parts[1])).is_err());
        let forged = URL_SAFE_NO_PAD
            .encode(String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap().replace("user:7", "user:1"));
        assert!(k.verify(&format!("{}.{forged}.{}", parts[0], parts[2])).is_err());
        let other = JwtKeys::new(b"0123456789abcdef0123456789abcdef", "clientbase", "someone-else", 60);
        assert_eq!(other.verify(&token).unwrap_err(), "the token is for another audience");
    }
}
