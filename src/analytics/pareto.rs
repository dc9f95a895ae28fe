//! Pareto: what share of the revenue the top clients bring, and the Lorenz curve.
//!
//! Clients with positive revenue in the period, sorted by revenue descending. The top share
//! takes `ceil(n × top_share%)` clients. The Lorenz curve lists, for `p` = 0, 1/k, … 1 of the
//! clients taken from the smallest up (`round(p × n)` clients), the share of revenue they bring;
//! the Gini coefficient is `1 − 2 × area under the curve` computed over every client.

use serde::Serialize;
use utoipa::ToSchema;

use super::shares::top_count;
use crate::money;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LorenzPoint {
    /// Share of clients, smallest first.
    pub clients_share: f64,
    /// Share of revenue they bring.
    pub revenue_share: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParetoResult {
    /// The channel for per-channel results; null for the whole scope.
    pub channel: Option<String>,
    /// Clients with positive revenue in the period.
    pub clients: usize,
    /// Total revenue of those clients, a decimal amount.
    pub revenue: String,
    /// How many clients the top share is.
    pub top_clients: usize,
    /// Revenue of the top clients, a decimal amount.
    pub top_revenue: String,
    /// Their share of the revenue, 0–1.
    pub top_revenue_share: f64,
    pub gini: f64,
    pub lorenz: Vec<LorenzPoint>,
}

/// `values`: each client's revenue; non-positive ones are left out.
pub fn compute(channel: Option<String>, values: &[i64], top_share: f64, points: usize) -> ParetoResult {
    let mut v: Vec<i64> = values.iter().copied().filter(|x| *x > 0).collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    let n = v.len();
    let total: i128 = v.iter().map(|x| *x as i128).sum();
    let k = top_count(n, top_share);
    let top: i128 = v[..k].iter().map(|x| *x as i128).sum();
    let ratio = |x: i128| if total == 0 { 0.0 } else { x as f64 / total as f64 };
    // Ascending prefix sums for the curve.
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0i128);
    for x in v.iter().rev() {
        prefix.push(prefix.last().copied().unwrap_or(0) + *x as i128);
    }
    let lorenz = (0..=points)
        .map(|i| {
            let p = i as f64 / points as f64;
            let taken = ((n as f64) * p).round() as usize;
            LorenzPoint { clients_share: p, revenue_share: ratio(prefix[taken.min(n)]) }
        })
        .collect();
    // Area under the curve by trapezoids over every client.
    let gini = if n == 0 || total == 0 {
        0.0
    } else {
        let area: f64 = (1..=n).map(|i| (ratio(prefix[i - 1]) + ratio(prefix[i])) / (2.0 * n as f64)).sum();
        1.0 - 2.0 * area
    };
    ParetoResult {
        channel,
        clients: n,
        revenue: money::format_minor(total as i64),
        top_clients: k,
        top_revenue: money::format_minor(top as i64),
        top_revenue_share: ratio(top),
        gini,
        lorenz,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_twenty_percent_share_and_curve() {
        // Ten clients: one brings 800 of 1000 → the top 20% (two clients) bring 850.
        let values = [800, 50, 30, 30, 20, 20, 20, 10, 10, 10, 0, -40];
        let r = compute(None, &values, 20.0, 10);
        assert_eq!(r.clients, 10);
        assert_eq!(r.top_clients, 2);
        assert_eq!(r.top_revenue, "8.50");
        assert!((r.top_revenue_share - 0.85).abs() < 1e-12);
        assert_eq!(r.lorenz.len(), 11);
        assert_eq!(r.lorenz[0].revenue_share, 0.0);
        assert!((r.lorenz[10].revenue_share - 1.0).abs() < 1e-12);
        // The smallest half (10, 10, 10, 20, 20) bring 70 of 1000.
        assert!((r.lorenz[5].revenue_share - 0.07).abs() < 1e-12);
        assert!(r.gini > 0.6 && r.gini < 1.0);
    }

    #[test]
    fn an_empty_period_is_all_zero() {
        let r = compute(Some("retail".into()), &[], 20.0, 4);
        assert_eq!((r.clients, r.top_clients, r.top_revenue_share, r.gini), (0, 0, 0.0, 0.0));
        assert_eq!(r.lorenz.len(), 5);
    }
}
