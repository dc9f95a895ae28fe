//! [`Caller`]: who is calling. A user or an API client proven by the bearer token, or the system
//! itself (a provider callback, a background job). One type serves the handlers (scopes), the
//! queries (who may see which clients), the event log and the audit log (actor and address).

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::jwt::Subject;
use super::principals::{verified_claims, Authenticator};
use super::scopes::{Role, Scope, ScopeSet};
use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct Caller {
    /// Set for users.
    pub user_id: Option<i64>,
    pub role: Option<Role>,
    /// Set for API clients.
    pub api_client_id: Option<i64>,
    pub scopes: ScopeSet,
    /// The address the request came from, as the audit log records it.
    pub address: Option<String>,
    /// How the caller is named in events and the audit log: `user:7`, `client:erp`,
    /// `provider:mailer`; `None` for the system.
    actor: Option<String>,
    /// The channel the change comes through: `api`, `telephony`, a sync source, `system`.
    source: String,
}

impl Caller {
    /// A caller that is not a person or a token: it sees the whole base and holds every scope.
    pub fn system(actor: Option<String>, source: &str) -> Caller {
        Caller {
            user_id: None,
            role: None,
            api_client_id: None,
            scopes: ScopeSet::all(),
            address: None,
            actor,
            source: source.to_string(),
        }
    }

    /// The same caller writing as a user (the author of what it logs, the default assignee).
    pub fn on_behalf_of(self, user_id: Option<i64>) -> Caller {
        Caller { user_id, ..self }
    }

    fn of_token(subject: &Subject, role: Option<Role>, api_client_id: Option<i64>, scopes: ScopeSet) -> Caller {
        Caller {
            user_id: match subject {
                Subject::User(id) => Some(*id),
                Subject::ApiClient(_) => None,
            },
            role,
            api_client_id,
            scopes,
            address: None,
            actor: Some(subject.to_claim()),
            source: "api".into(),
        }
    }

    /// The same caller acting through another channel (telephony, a sync source).
    pub fn via(&self, source: &str) -> Caller {
        Caller { source: source.to_string(), ..self.clone() }
    }

    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::MissingScope(scope.as_str()))
        }
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// `Some(user id)` when the caller may only see the clients they own (managers): the value
    /// every visibility filter takes.
    pub fn own_clients_only(&self) -> Option<i64> {
        match self.role {
            Some(role) if !role.sees_all() => self.user_id,
            _ => None,
        }
    }

    /// How the caller is named in the event and audit logs.
    pub fn actor(&self) -> String {
        self.actor.clone().unwrap_or_else(|| "system".into())
    }

    /// Who made a change and through which channel, as the event log records it.
    pub fn origin(&self) -> Origin {
        Origin { actor: self.actor.clone(), source: self.source.clone() }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Authenticator>>().cloned();
        let claims = verified_claims(req);
        let address = req.peer_addr().map(|a| a.ip().to_string());
        Box::pin(async move {
            let claims = claims?;
            let auth = auth.ok_or_else(|| ApiError::internal("authenticator missing"))?;
            let subject = Subject::parse(&claims.sub)
                .ok_or_else(|| ApiError::Unauthorized("the token subject is not recognised".into()))?;
            let token_scopes = ScopeSet::parse_claim(&claims.scope)
                .map_err(|s| ApiError::Unauthorized(format!("the token carries an unknown scope {s}")))?;
            let standing = auth
                .standing(&subject)
                .await?
                .filter(|s| s.active)
                .ok_or_else(|| ApiError::Unauthorized("the account is deactivated or revoked".into()))?;
            // A user's scopes follow their current role, so a demotion takes effect at once.
            let scopes = match standing.role {
                Some(role) => token_scopes.intersect(role.scopes()),
                None => token_scopes,
            };
            let mut caller = Caller::of_token(&subject, standing.role, standing.api_client_id, scopes);
            caller.address = address;
            Ok(caller)
        })
    }
}

/// Who made a change and through which channel (`api`, `telephony`, a sync source like `1c`).
#[derive(Debug, Clone)]
pub struct Origin {
    pub actor: Option<String>,
    pub source: String,
}
