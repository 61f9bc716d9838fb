//! How evenly the server shared itself out: each connection's verified replies per second
//! over the part of the measured window it was open (connections open at its end, for at
//! least half of it; a rate, so a connection that came late in a connect storm is judged
//! on its own time).
//!
//! Latency percentiles say how long replies took, not whether some connections got far
//! fewer of them: a server that serves its ready list unfairly can keep p99 tidy while a
//! few clients starve. The spread of per-connection rates shows that directly, and Jain's
//! fairness index sums it up: `(Σx)² / (n·Σx²)`, 1 when every connection got the same,
//! 1/n when one got everything.

use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shares {
    /// Connections judged: open at the end of the window, for at least half of it.
    pub connections: u64,
    /// Replies per second.
    pub min: f64,
    /// The slowest 1 % of connections got at most this rate.
    pub p1: f64,
    pub p50: f64,
    pub max: f64,
    pub jain_index: f64,
}

impl Shares {
    /// `None` with no connection to judge (a run of one exchange per connection, or none
    /// open through the window).
    pub(crate) fn of(mut rates: Vec<f64>) -> Option<Shares> {
        if rates.is_empty() {
            return None;
        }
        rates.sort_by(f64::total_cmp);
        let n = rates.len();
        let at = |q: f64| rates[((n as f64 * q).ceil() as usize).clamp(1, n) - 1];
        let sum: f64 = rates.iter().sum();
        let squares: f64 = rates.iter().map(|r| r * r).sum();
        let jain_index = if squares > 0.0 { sum * sum / (n as f64 * squares) } else { 1.0 };
        Some(Shares {
            connections: n as u64,
            min: rates[0],
            p1: at(0.01),
            p50: at(0.5),
            max: rates[n - 1],
            jain_index,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_shares_are_perfectly_fair() {
        let s = Shares::of(vec![7.0; 100]).expect("shares");
        assert_eq!((s.connections, s.min, s.p1, s.p50, s.max), (100, 7.0, 7.0, 7.0, 7.0));
        assert_eq!(s.jain_index, 1.0);
    }

    #[test]
    fn one_starved_connection_shows_in_min_and_the_index() {
        let mut rates = vec![100.0; 199];
        rates.push(0.0);
        let s = Shares::of(rates).expect("shares");
        assert_eq!((s.min, s.p1, s.p50, s.max), (0.0, 100.0, 100.0, 100.0));
        // 199² · 100² / (200 · 199 · 100²) = 199 / 200
        assert!((s.jain_index - 0.995).abs() < 1e-9, "{}", s.jain_index);
    }

    #[test]
    fn percentiles_are_of_the_sorted_shares_and_one_taking_all_scores_one_over_n() {
        let s = Shares::of((1..=100).rev().map(f64::from).collect()).expect("shares");
        assert_eq!((s.min, s.p1, s.p50, s.max), (1.0, 1.0, 50.0, 100.0));
        let greedy = Shares::of(vec![0.0, 0.0, 0.0, 40.0]).expect("shares");
        assert_eq!(greedy.jain_index, 0.25);
        assert_eq!(Shares::of(Vec::new()), None);
        assert_eq!(Shares::of(vec![0.0, 0.0]).map(|s| s.jain_index), Some(1.0));
    }
}
