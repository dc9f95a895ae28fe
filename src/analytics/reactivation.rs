//! Reactivation: active clients who have not bought for longer than their own rhythm.
//!
//! From purchases up to `as_of`: a client's interval is (last − first) / (distinct purchase days − 1).
//! A client with a single purchase day takes the median interval of the clients that have one.
//! A client is due when `as_of − last purchase > factor × interval` (strictly). They are sorted
//! by revenue at risk, the yearly revenue their rhythm brings: average purchase × 365 / interval,
//! rounded to minor units (ties by client id).

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::money;

/// A client's purchases up to the day judged from (`repo::rhythms` reads them).
#[derive(Debug, Clone)]
pub struct Rhythm {
    pub client_id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    pub first_on: NaiveDate,
    pub last_on: NaiveDate,
    /// Distinct purchase days.
    pub days: i64,
    pub purchases: i64,
    pub revenue: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Candidate {
    pub client_id: i64,
    pub name: String,
    pub owner_id: Option<i64>,
    pub last_purchase_on: NaiveDate,
    pub days_since_last_purchase: i64,
    /// The client's own average interval in days, or the base's median for a single purchase day.
    pub interval_days: f64,
    /// True when the interval is the base's median.
    pub median_interval_used: bool,
    /// Yearly revenue the client's rhythm brings, a decimal amount.
    pub revenue_at_risk: String,
    #[serde(skip)]
    pub at_risk_minor: i64,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 })
}

pub fn interval(r: &Rhythm) -> Option<f64> {
    (r.days >= 2).then(|| (r.last_on - r.first_on).num_days() as f64 / (r.days - 1) as f64)
}

/// The due clients, most revenue at risk first; the median interval of the base is returned too.
pub fn candidates(rhythms: Vec<Rhythm>, as_of: NaiveDate, factor: f64) -> (Vec<Candidate>, Option<f64>) {
    let median = median(rhythms.iter().filter_map(interval).collect());
    let mut out: Vec<Candidate> = rhythms
        .into_iter()
        .filter_map(|r| {
            let own = interval(&r);
            let interval_days = own.or(median)?;
            let since = (as_of - r.last_on).num_days();
            if interval_days <= 0.0 || (since as f64) <= factor * interval_days {
                return None;
            }
            let at_risk = (r.revenue as f64 / r.purchases as f64 * 365.0 / interval_days).round() as i64;
            Some(Candidate {
                client_id: r.client_id,
                name: r.name,
                owner_id: r.owner_id,
                last_purchase_on: r.last_on,
                days_since_last_purchase: since,
                interval_days,
                median_interval_used: own.is_none(),
                revenue_at_risk: money::format_minor(at_risk),
                at_risk_minor: at_risk,
            })
        })
        .collect();
    out.sort_by(|a, b| b.at_risk_minor.cmp(&a.at_risk_minor).then(a.client_id.cmp(&b.client_id)));
    (out, median)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: i64, first: &str, last: &str, days: i64, purchases: i64, revenue: i64) -> Rhythm {
        Rhythm {
            client_id: id,
            name: format!("c{id}"),
            owner_id: None,
            first_on: first.parse().unwrap(),
            last_on: last.parse().unwrap(),
            days,
            purchases,
            revenue,
        }
    }

    #[test]
    fn due_when_silence_exceeds_factor_times_own_interval() {
        let as_of: NaiveDate = "2026-06-30".parse().unwrap();
        let list = vec![
            // Every 30 days (Jan 1 → May 1 over 5 days); silent 60 days > 45 → due.
            r(1, "2026-01-01", "2026-05-01", 5, 5, 50_000),
            // Every 30 days, silent 45 days: not more than 1.5 × 30 → not due.
            r(2, "2026-01-16", "2026-05-16", 5, 5, 50_000),
            // One purchase day: uses the median (30), silent 90 → due.
            r(3, "2026-04-01", "2026-04-01", 1, 2, 10_000),
        ];
        let (due, median) = candidates(list, as_of, 1.5);
        assert_eq!(median, Some(30.0));
        let ids: Vec<i64> = due.iter().map(|c| c.client_id).collect();
        // Client 1: 100.00 a purchase every 30 days → 1216.67 a year; client 3: 50.00 → 608.33.
        assert_eq!(ids, [1, 3]);
        assert_eq!(due[0].revenue_at_risk, "1216.67");
        assert!(due[1].median_interval_used);
        assert_eq!(due[1].revenue_at_risk, "608.33");
    }
}
