//! Scopes (what a token may do) and roles (which scopes a user gets).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! scopes {
    ($($variant:ident = $name:literal : $doc:literal,)*) => {
        /// A permission carried in a token's `scope` claim.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Scope {
            $(#[doc = $doc] #[serde(rename = $name)] $variant,)*
        }

        impl Scope {
            pub const ALL: &'static [Scope] = &[$(Scope::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Scope::$variant => $name,)* }
            }

            pub fn parse(s: &str) -> Option<Scope> {
                match s { $($name => Some(Scope::$variant),)* _ => None }
            }

            /// `(name, description)` pairs for the OpenAPI security scheme.
            pub fn described() -> Vec<(&'static str, &'static str)> {
                vec![$(($name, $doc),)*]
            }
        }
    };
}

scopes! {
    ClientsRead = "clients:read": "Read clients and contact persons",
    ClientsWrite = "clients:write": "Create and change clients and contact persons",
    ClientsExport = "clients:export": "Export the client base in bulk",
    ClientsDelete = "clients:delete": "Delete and restore clients",
    ClientsPurge = "clients:purge": "Irreversibly erase deleted clients (administrators only)",
    ClientsImport = "clients:import": "Import spreadsheets of clients, preview, run and revert them",
    DealsRead = "deals:read": "Read pipelines, deals, activities and tasks",
    DealsWrite = "deals:write": "Change deals, activities and tasks",
    CampaignsRead = "campaigns:read": "Read campaigns and their recipients",
    CampaignsWrite = "campaigns:write": "Create and change campaigns",
    CampaignsSend = "campaigns:send": "Launch campaigns",
    AnalyticsRead = "analytics:read": "Read sales, segments and analytics",
    SyncWrite = "sync:write": "Batch upsert from an ERP and read the change feed",
    TelephonyWrite = "telephony:write": "Log calls and look numbers up",
    WebhooksManage = "webhooks:manage": "Manage outbound webhooks",
    UsersManage = "users:manage": "Manage users and API clients",
    AuditRead = "audit:read": "Read the audit log",
    SettingsManage = "settings:manage": "Manage reference data: channels and pipelines",
    AutomationsRead = "automations:read": "Read automations and their runs",
    AutomationsManage = "automations:manage": "Create, change and run automations",
}

// Written out rather than derived: the derive cannot read the serde names through the macro
// above, and would describe the variants' Rust names instead of the scope strings.
impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A permission carried in a token's `scope` claim."))
            .enum_values(Some(Scope::ALL.iter().map(|s| s.as_str())))
            .into()
    }
}

impl ToSchema for Scope {}

/// A set of scopes, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSet(u32);

impl ScopeSet {
    pub fn empty() -> ScopeSet {
        ScopeSet(0)
    }

    pub fn all() -> ScopeSet {
        ScopeSet::of(Scope::ALL)
    }

    pub fn of(scopes: &[Scope]) -> ScopeSet {
        ScopeSet(scopes.iter().fold(0, |acc, s| acc | bit(*s)))
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & bit(scope) != 0
    }

    pub fn intersect(self, other: ScopeSet) -> ScopeSet {
        ScopeSet(self.0 & other.0)
    }

    pub fn is_subset_of(self, other: ScopeSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.iter().copied().filter(move |s| self.contains(*s))
    }

    /// Space-separated, as in the `scope` claim.
    pub fn to_claim(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// Parses a space-separated list; `Err` names the first unknown scope.
    pub fn parse_claim(claim: &str) -> Result<ScopeSet, String> {
        let mut set = ScopeSet::empty();
        for name in claim.split_whitespace() {
            let scope = Scope::parse(name).ok_or_else(|| name.to_string())?;
            set = ScopeSet(set.0 | bit(scope));
        }
        Ok(set)
    }
}

fn bit(scope: Scope) -> u32 {
    1 << (Scope::ALL.iter().position(|s| *s == scope).unwrap_or(31) as u32)
}

/// A user's role. API clients are integrations with the scopes given at their creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including user management and purge.
    Admin,
    /// The whole base: everything but user management and purge.
    Supervisor,
    /// Own clients, deals and activities; no export, no delete.
    Manager,
}

crate::text_enum!(Role { Admin = "admin", Supervisor = "supervisor", Manager = "manager" });

impl Role {
    pub fn scopes(self) -> ScopeSet {
        use Scope::*;
        match self {
            Role::Admin => ScopeSet::all(),
            Role::Supervisor => ScopeSet(ScopeSet::all().0 & !ScopeSet::of(&[UsersManage, ClientsPurge]).0),
            Role::Manager => {
                ScopeSet::of(&[ClientsRead, ClientsWrite, DealsRead, DealsWrite, AnalyticsRead, CampaignsRead])
            }
        }
    }

    /// Whether the role sees the whole base or only the clients its user owns.
    pub fn sees_all(self) -> bool {
        self != Role::Manager
    }
}

/// Scopes an API client may be given: everything but managing people and purging.
pub fn integration_grantable() -> ScopeSet {
    ScopeSet(ScopeSet::all().0 & !ScopeSet::of(&[Scope::UsersManage, Scope::ClientsPurge]).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_round_trip() {
        let set = ScopeSet::of(&[Scope::ClientsRead, Scope::AuditRead]);
        assert_eq!(set.to_claim(), "clients:read audit:read");
        assert_eq!(ScopeSet::parse_claim(&set.to_claim()).unwrap(), set);
        assert_eq!(ScopeSet::parse_claim("clients:read nope").unwrap_err(), "nope");
    }

    #[test]
    fn roles_follow_the_spec() {
        assert!(Role::Admin.scopes().contains(Scope::ClientsPurge));
        assert!(!Role::Supervisor.scopes().contains(Scope::UsersManage));
        assert!(Role::Supervisor.scopes().contains(Scope::ClientsExport));
        let manager = Role::Manager.scopes();
        assert!(!manager.contains(Scope::ClientsExport));
        assert!(!manager.contains(Scope::ClientsDelete));
        assert!(manager.contains(Scope::ClientsWrite));
        assert!(!Role::Manager.sees_all());
    }
}
