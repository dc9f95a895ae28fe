//! ABC by share of the measure, XYZ by stability of monthly sums.
//!
//! ABC: clients with sales in the period, sorted by value (descending, ties by client id); the
//! cumulative share of the total *including the client* decides: ≤ `a`% → A, ≤ `b`% → B, else C.
//! The total is the sum of positive values; a client whose value is zero or negative is C.
//!
//! XYZ: the coefficient of variation of the client's monthly sums over every calendar month the
//! period touches (months without sales count as 0): CV = population standard deviation / mean.
//! CV ≤ `x`% → X, ≤ `y`% → Y, else Z; a client whose mean is not positive is Z. Comparisons are
//! exact: CV ≤ t ⟺ (n·Σm² − V²)·10⁸ ≤ t_bp²·V², with V = Σm over n months.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::ClientSums;
use super::shares::{basis_points, share_at_most};
use crate::money;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum Abc {
    A,
    B,
    C,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
pub enum Xyz {
    X,
    Y,
    Z,
}

/// The thresholds, in percent, echoed in the response.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Thresholds {
    pub a: f64,
    pub b: f64,
    pub x: f64,
    pub y: f64,
    /// Clients with fewer purchases in the period are flagged `insufficient_history`.
    pub min_purchases: i64,
}

#[derive(Debug, Clone)]
pub struct Classified {
    pub sums: ClientSums,
    /// Position in the ranking, from 1.
    pub rank: usize,
    pub share: f64,
    pub cumulative_share: f64,
    pub abc: Abc,
    pub xyz: Xyz,
    pub cv: Option<f64>,
    pub insufficient_history: bool,
}

/// Whether CV ≤ `percent`, decided in integers (falls back to floating point only on overflow).
fn cv_at_most(n: i128, sum_sq: i128, v: i128, percent: f64) -> bool {
    let t = basis_points(percent);
    let exact = (|| {
        let spread = n.checked_mul(sum_sq)?.checked_sub(v.checked_mul(v)?)?;
        let lhs = spread.checked_mul(100_000_000)?;
        let rhs = t.checked_mul(t)?.checked_mul(v.checked_mul(v)?)?;
        Some(lhs <= rhs)
    })();
    exact.unwrap_or_else(|| {
        let cv = ((n as f64 * sum_sq as f64 - (v as f64).powi(2)).max(0.0)).sqrt() / v as f64;
        cv <= percent / 100.0
    })
}

/// The coefficient of variation, for display.
fn cv_value(n: i128, sum_sq: i128, v: i128) -> f64 {
    let spread = (n as f64) * (sum_sq as f64) - (v as f64) * (v as f64);
    spread.max(0.0).sqrt() / v as f64
}

/// Ranks and classifies clients; `months` is the number of calendar months of the period.
pub fn classify(mut clients: Vec<ClientSums>, months: i64, t: &Thresholds) -> Vec<Classified> {
    clients.sort_by(|a, b| b.value.cmp(&a.value).then(a.client_id.cmp(&b.client_id)));
    let total: i128 = clients.iter().map(|c| c.value.max(0) as i128).sum();
    let (a_bp, b_bp) = (basis_points(t.a), basis_points(t.b));
    let n = months.max(1) as i128;
    let mut cumulative: i128 = 0;
    clients
        .into_iter()
        .enumerate()
        .map(|(i, sums)| {
            let v = sums.value as i128;
            let abc = if v <= 0 || total == 0 {
                Abc::C
            } else {
                cumulative += v;
                if share_at_most(cumulative, total, a_bp) {
                    Abc::A
                } else if share_at_most(cumulative, total, b_bp) {
                    Abc::B
                } else {
                    Abc::C
                }
            };
            let (xyz, cv) = if v <= 0 {
                (Xyz::Z, None)
            } else if cv_at_most(n, sums.sum_of_squares, v, t.x) {
                (Xyz::X, Some(cv_value(n, sums.sum_of_squares, v)))
            } else if cv_at_most(n, sums.sum_of_squares, v, t.y) {
                (Xyz::Y, Some(cv_value(n, sums.sum_of_squares, v)))
            } else {
                (Xyz::Z, Some(cv_value(n, sums.sum_of_squares, v)))
            };
            let ratio = |x: i128| if total == 0 { 0.0 } else { x as f64 / total as f64 };
            Classified {
                rank: i + 1,
                share: ratio(v.max(0)),
                cumulative_share: ratio(cumulative),
                insufficient_history: sums.purchases < t.min_purchases,
                abc,
                xyz,
                cv,
                sums,
            }
        })
        .collect()
}

/// One cell of the 3×3 matrix.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cell {
    /// `AX`, `AY`, … `CZ`.
    pub cell: String,
    pub clients: usize,
    /// Sum of the measure over the cell's clients, a decimal amount.
    pub value: String,
}

pub fn matrix(classified: &[Classified]) -> Vec<Cell> {
    let mut cells = Vec::with_capacity(9);
    for abc in [Abc::A, Abc::B, Abc::C] {
        for xyz in [Xyz::X, Xyz::Y, Xyz::Z] {
            let members = classified.iter().filter(|c| c.abc == abc && c.xyz == xyz);
            let (count, value) = members.fold((0usize, 0i64), |(n, v), c| (n + 1, v + c.sums.value));
            cells.push(Cell { cell: format!("{abc:?}{xyz:?}"), clients: count, value: money::format_minor(value) });
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(id: i64, months: &[i64], purchases: i64) -> ClientSums {
        ClientSums {
            client_id: id,
            value: months.iter().sum(),
            sum_of_squares: months.iter().map(|m| (*m as i128) * (*m as i128)).sum(),
            months_with_sales: months.iter().filter(|m| **m != 0).count() as i64,
            purchases,
        }
    }

    const T: Thresholds = Thresholds { a: 80.0, b: 95.0, x: 10.0, y: 25.0, min_purchases: 2 };

    #[test]
    fn cumulative_share_including_the_client_decides_abc() {
        // Total 1000: 600 (60%) A, 200 (80%) A — the boundary is included —, 150 (95%) B, 50 C.
        let c = classify(vec![sums(4, &[50], 1), sums(1, &[600], 1), sums(2, &[200], 1), sums(3, &[150], 1)], 1, &T);
        let got: Vec<(i64, Abc)> = c.iter().map(|c| (c.sums.client_id, c.abc)).collect();
        assert_eq!(got, [(1, Abc::A), (2, Abc::A), (3, Abc::B), (4, Abc::C)]);
    }

    #[test]
    fn ties_rank_by_client_id() {
        let c = classify(vec![sums(9, &[100], 1), sums(3, &[100], 1)], 1, &T);
        assert_eq!(c[0].sums.client_id, 3);
        assert_eq!(c[0].abc, Abc::A); // 50%
        assert_eq!(c[1].abc, Abc::C); // 100%
    }

    #[test]
    fn zero_months_count_in_xyz() {
        // Months 100, 100, 100, 100: CV 0 → X. With one month at 0 of four: mean 75,
        // σ = sqrt((3·25² + 75²)/4) = 43.3 → CV 57.7% → Z.
        let steady = classify(vec![sums(1, &[100, 100, 100, 100], 4)], 4, &T);
        assert_eq!(steady[0].xyz, Xyz::X);
        let gap = classify(vec![sums(1, &[100, 100, 100], 3)], 4, &T);
        assert_eq!(gap[0].xyz, Xyz::Z);
        assert!((gap[0].cv.unwrap() - 0.57735).abs() < 1e-4);
    }

    #[test]
    fn cv_boundaries_are_exact() {
        // Monthly 90 and 110: mean 100, σ 10 → CV exactly 10% → X; 88/112 → 12% → Y.
        assert_eq!(classify(vec![sums(1, &[90, 110], 2)], 2, &T)[0].xyz, Xyz::X);
        assert_eq!(classify(vec![sums(1, &[88, 112], 2)], 2, &T)[0].xyz, Xyz::Y);
        assert_eq!(classify(vec![sums(1, &[75, 125], 2)], 2, &T)[0].xyz, Xyz::Y);
        assert_eq!(classify(vec![sums(1, &[74, 126], 2)], 2, &T)[0].xyz, Xyz::Z);
    }

    #[test]
    fn negative_values_are_c_and_z_and_few_purchases_are_flagged() {
        let c = classify(vec![sums(1, &[100], 1), sums(2, &[-30], 1)], 1, &T);
        assert_eq!((c[1].abc, c[1].xyz), (Abc::C, Xyz::Z));
        assert!(c[0].insufficient_history);
        assert_eq!(c[0].abc, Abc::C); // 100% of the positive total
    }
}
