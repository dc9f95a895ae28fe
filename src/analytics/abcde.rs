//! ABCDE: within each channel, active clients by current profitability (margin over the period)
//! and potential (the card's estimated potential, 0 when unknown).
//!
//! - E: negative profit.
//! - The others are ranked within their channel, by profit and separately by potential
//!   (descending, ties by client id). "Maximal" is the top `max_share`% of a ranking (rounded
//!   up), "high" the top `high_share`%.
//! - A: maximal profit and maximal potential.
//! - B: high profit (and not A) — the articles pair it with high potential; a high-profit client
//!   with low potential is B here too.
//! - C: profit not high, potential high.
//! - D: profit not high, potential not high.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::shares::top_count;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
pub enum Abcde {
    A,
    B,
    C,
    D,
    E,
}

#[derive(Debug, Clone)]
pub struct Candidate {
    pub client_id: i64,
    pub channel: Option<String>,
    pub profit: i64,
    pub potential: i64,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Cutoffs {
    /// Top share (percent) of a channel's ranking counted as maximal.
    pub max_share: f64,
    /// Top share (percent) counted as high.
    pub high_share: f64,
}

/// Ranks `ids` (already sorted best first) and returns the positions.
fn positions(sorted: &[&Candidate]) -> HashMap<i64, usize> {
    sorted.iter().enumerate().map(|(i, c)| (c.client_id, i)).collect()
}

pub fn classify(candidates: &[Candidate], cut: &Cutoffs) -> HashMap<i64, Abcde> {
    let mut by_channel: BTreeMap<Option<&str>, Vec<&Candidate>> = BTreeMap::new();
    for c in candidates {
        by_channel.entry(c.channel.as_deref()).or_default().push(c);
    }
    let mut out = HashMap::with_capacity(candidates.len());
    for (_, members) in by_channel {
        let (negative, ranked): (Vec<&Candidate>, Vec<&Candidate>) = members.into_iter().partition(|c| c.profit < 0);
        for c in negative {
            out.insert(c.client_id, Abcde::E);
        }
        let mut by_profit = ranked.clone();
        by_profit.sort_by(|a, b| b.profit.cmp(&a.profit).then(a.client_id.cmp(&b.client_id)));
        let mut by_potential = ranked.clone();
        by_potential.sort_by(|a, b| b.potential.cmp(&a.potential).then(a.client_id.cmp(&b.client_id)));
        let (profit_pos, potential_pos) = (positions(&by_profit), positions(&by_potential));
        let n = ranked.len();
        let (max_k, high_k) = (top_count(n, cut.max_share), top_count(n, cut.high_share));
        for c in ranked {
            let (p, q) = (profit_pos[&c.client_id], potential_pos[&c.client_id]);
            let class = if p < max_k && q < max_k {
                Abcde::A
            } else if p < high_k {
                Abcde::B
            } else if q < high_k {
                Abcde::C
            } else {
                Abcde::D
            };
            out.insert(c.client_id, class);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: i64, channel: &str, profit: i64, potential: i64) -> Candidate {
        Candidate { client_id: id, channel: Some(channel.into()), profit, potential }
    }

    #[test]
    fn classes_follow_the_documented_rule_within_each_channel() {
        let cut = Cutoffs { max_share: 20.0, high_share: 50.0 };
        // Ten retail clients: profit 100..10, potential in another order.
        let mut list: Vec<Candidate> = (1..=10).map(|i| c(i, "retail", 110 - 10 * i, 0)).collect();
        // Potentials: client 1 and 2 top (A candidates), 7 high potential.
        for (id, pot) in [(1, 1000), (2, 900), (7, 800), (8, 700), (9, 600), (3, 10)] {
            list[id as usize - 1].potential = pot;
        }
        list.push(c(11, "retail", -5, 5000));
        list.push(c(12, "wholesale", 1, 1));
        let got = classify(&list, &cut);
        assert_eq!(got[&1], Abcde::A);
        assert_eq!(got[&2], Abcde::A);
        assert_eq!(got[&3], Abcde::B); // high profit, low potential
        assert_eq!(got[&7], Abcde::C); // profit rank 7 of 10, potential rank 3
        assert_eq!(got[&9], Abcde::C);
        assert_eq!(got[&10], Abcde::D);
        assert_eq!(got[&11], Abcde::E);
        // Alone in its channel, a client is at the top of both rankings.
        assert_eq!(got[&12], Abcde::A);
    }
}
