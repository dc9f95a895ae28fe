//! Exact share arithmetic the classifications share: percentages as basis points, share
//! comparisons in integers and the size of a top share.

/// Percent as hundredths of a percent (basis points), the unit exact comparisons use.
pub fn basis_points(percent: f64) -> i128 {
    (percent * 100.0).round() as i128
}

/// `part / whole <= bp / 10000`, decided exactly.
pub fn share_at_most(part: i128, whole: i128, bp: i128) -> bool {
    part * 10_000 <= bp * whole
}

/// `ceil(n × percent / 100)`: how many of `n` ranked clients a top share takes.
pub fn top_count(n: usize, percent: f64) -> usize {
    let bp = basis_points(percent) as u128;
    (((n as u128) * bp).div_ceil(10_000)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_compared_exactly() {
        assert!(share_at_most(80, 100, 8000));
        assert!(!share_at_most(81, 100, 8000));
        assert!(share_at_most(2, 3, 6667));
        assert!(!share_at_most(2, 3, 6666));
        assert_eq!(top_count(10, 20.0), 2);
        assert_eq!(top_count(11, 20.0), 3);
        assert_eq!(top_count(0, 20.0), 0);
    }
}
