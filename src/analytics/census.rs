//! The census of the base: how many clients miss a phone, an email, an owner, a channel, a
//! region, an industry, an INN (companies only) or a decision-maker contact (companies only),
//! overall and per owner, and the clients missing the most first. The counting happens in the
//! queries (`repo::census_counts`, `repo::worst_clients`); this turns counts into figures.

use serde::Serialize;
use utoipa::ToSchema;

/// The fields the census checks, in the order of the queries' conditions and flags.
pub const FIELDS: [&str; 8] = ["phone", "email", "owner", "channel", "region", "industry", "inn", "decision_maker"];

/// The fields that apply to companies only.
const COMPANIES_ONLY: [&str; 2] = ["inn", "decision_maker"];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldGap {
    pub field: String,
    /// Clients missing it.
    pub missing: i64,
    /// Of the clients it applies to (companies for `inn` and `decision_maker`), 0–1.
    pub share: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Census {
    /// Null in the overall figures and for clients without an owner.
    pub owner_id: Option<i64>,
    pub clients: i64,
    pub companies: i64,
    pub fields: Vec<FieldGap>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Incomplete {
    pub client_id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    /// The fields it misses.
    pub missing: Vec<String>,
}

/// One group's counts: its clients, its companies and, per field of [`FIELDS`], the clients
/// missing it.
#[derive(Debug, Clone)]
pub struct CensusCounts {
    pub owner_id: Option<i64>,
    pub clients: i64,
    pub companies: i64,
    pub missing: [i64; FIELDS.len()],
}

/// Overall figures (first) and the figures of each owner's group, from the groups' counts.
pub fn figures(rows: &[CensusCounts]) -> Vec<Census> {
    let mut overall = CensusCounts { owner_id: None, clients: 0, companies: 0, missing: [0; FIELDS.len()] };
    for r in rows {
        overall.clients += r.clients;
        overall.companies += r.companies;
        for i in 0..FIELDS.len() {
            overall.missing[i] += r.missing[i];
        }
    }
    std::iter::once(&overall).chain(rows.iter()).map(CensusCounts::to_census).collect()
}

impl CensusCounts {
    fn to_census(&self) -> Census {
        let fields = FIELDS
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let base = if COMPANIES_ONLY.contains(field) { self.companies } else { self.clients };
                FieldGap {
                    field: field.to_string(),
                    missing: self.missing[i],
                    share: if base == 0 { 0.0 } else { self.missing[i] as f64 / base as f64 },
                }
            })
            .collect();
        Census { owner_id: self.owner_id, clients: self.clients, companies: self.companies, fields }
    }
}

/// The fields a client misses, from its flags: one character per field of [`FIELDS`], `1` when
/// missing.
pub fn missing_fields(flags: &str) -> Vec<String> {
    FIELDS.iter().zip(flags.chars()).filter(|(_, f)| *f == '1').map(|(field, _)| field.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overall_comes_first_and_company_fields_count_companies() {
        let mut missing = [0; FIELDS.len()];
        missing[0] = 1;
        missing[6] = 1;
        let rows = [
            CensusCounts { owner_id: Some(1), clients: 2, companies: 1, missing },
            CensusCounts { owner_id: Some(2), clients: 2, companies: 0, missing: [0; FIELDS.len()] },
        ];
        let all = figures(&rows);
        assert_eq!(all.len(), 3);
        assert_eq!((all[0].owner_id, all[0].clients, all[0].companies), (None, 4, 1));
        assert_eq!(all[0].fields[0].share, 0.25);
        assert_eq!(all[0].fields[6].share, 1.0);
        assert_eq!(missing_fields("10000011"), ["phone", "inn", "decision_maker"]);
    }
}
