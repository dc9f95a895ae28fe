//! Authentication and authorisation: token signing and verification, scopes and roles, the
//! one per-request [`Caller`], the subject lookup behind it and the login throttle.

pub mod caller;
pub mod jwt;
pub mod password;
pub mod principals;
pub mod scopes;
pub mod throttle;

pub use caller::Caller;
pub use principals::{verified_subject, Authenticator, PrincipalCache};
