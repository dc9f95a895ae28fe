//! The summary of the base: clients by status now, how they moved between statuses during the
//! period, new clients, revenue and margin, and contacts per client per year by status
//! (calls, meetings, emails and messages; notes are not contacts). The counting happens in the
//! queries (`repo::summary_figures`); this derives the cadence and formats the amounts.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::model::ReportScope;
use crate::money;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Movement {
    pub from: Option<String>,
    pub to: String,
    pub clients: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cadence {
    pub status: String,
    /// Clients with this status now.
    pub clients: i64,
    /// Contacts with them during the period.
    pub contacts: i64,
    /// Contacts per client per year: contacts / clients / (days of the period / 365).
    pub contacts_per_client_per_year: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Summary {
    pub scope: ReportScope,
    /// Clients by current status.
    pub statuses: BTreeMap<String, i64>,
    /// Status changes that happened during the period.
    pub movement: Vec<Movement>,
    /// Clients created during the period.
    pub new_clients: i64,
    /// Revenue of the period, a decimal amount.
    pub revenue: String,
    /// Margin of the period, a decimal amount.
    pub margin: String,
    pub purchases: i64,
    pub cadence: Vec<Cadence>,
}

/// What the queries count over the scope.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Clients by current status.
    pub statuses: BTreeMap<String, i64>,
    /// Status changes during the period.
    pub movement: Vec<Movement>,
    /// Clients created during the period.
    pub new_clients: i64,
    /// Revenue of the period, in minor units.
    pub revenue: i64,
    /// Margin of the period, in minor units.
    pub margin: i64,
    /// Sales of the period.
    pub purchases: i64,
    /// Contacts during the period by the client's current status.
    pub contacts: BTreeMap<String, i64>,
}

/// The summary from the figures: contacts per client per year by status, amounts formatted.
pub fn summary(scope: &ReportScope, figures: Figures) -> Summary {
    let Figures { statuses, movement, new_clients, revenue, margin, purchases, contacts } = figures;
    let years = ((scope.to - scope.from).num_days() + 1) as f64 / 365.0;
    let cadence = ["active", "potential", "lost"]
        .iter()
        .map(|status| {
            let clients = statuses.get(*status).copied().unwrap_or(0);
            let n = contacts.get(*status).copied().unwrap_or(0);
            Cadence {
                status: status.to_string(),
                clients,
                contacts: n,
                contacts_per_client_per_year: if clients == 0 { 0.0 } else { n as f64 / clients as f64 / years },
            }
        })
        .collect();

    Summary {
        scope: scope.clone(),
        statuses,
        movement,
        new_clients,
        revenue: money::format_minor(revenue),
        margin: money::format_minor(margin),
        purchases,
        cadence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadence_is_contacts_per_client_per_year() {
        let scope = ReportScope::new(
            chrono::NaiveDate::from_ymd_opt(2026, 1, 1),
            chrono::NaiveDate::from_ymd_opt(2026, 12, 31),
            None,
            None,
            None,
            None,
        )
        .unwrap();
        let figures = Figures {
            statuses: BTreeMap::from([("active".to_string(), 4)]),
            contacts: BTreeMap::from([("active".to_string(), 8)]),
            revenue: 12_345,
            ..Default::default()
        };
        let s = summary(&scope, figures);
        assert_eq!(s.revenue, "123.45");
        assert_eq!(s.cadence[0].contacts_per_client_per_year, 2.0);
        assert_eq!((s.cadence[1].clients, s.cadence[1].contacts_per_client_per_year), (0, 0.0));
    }
}
