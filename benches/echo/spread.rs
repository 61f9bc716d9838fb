//! How far to trust a median of per-round ratios on a noisy machine.
//!
//! Rounds on a shared VM spread from 0.3x to 1.9x while the servers differ by a few
//! percent, so a median alone cannot say whether a target was met. A distribution-free
//! confidence interval for the median (the sign test's: two order statistics picked from
//! the binomial distribution, no assumption about the noise's shape) can: a target is
//! shown when the whole interval clears it, refuted when the whole interval misses it,
//! and otherwise this run could not tell.

/// The median of some ratios with a confidence interval of at least 95 % for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    /// The interval, `None` with fewer than 6 rounds: no two order statistics of 5 or fewer
    /// values cover the median with 95 % confidence.
    pub interval: Option<(f64, f64)>,
}

impl Spread {
    pub fn of(mut v: Vec<f64>) -> Spread {
        assert!(!v.is_empty(), "a spread of no values");
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        let interval = order_statistic(n).map(|k| (v[k - 1], v[n - k]));
        Spread { median, interval }
    }

    /// Whether the interval lies wholly at or above `target` (`Some(true)`), wholly below it
    /// (`Some(false)`), or straddles it.
    pub fn verdict(&self, target: f64) -> Option<bool> {
        let (low, high) = self.interval?;
        if low >= target {
            Some(true)
        } else if high < target {
            Some(false)
        } else {
            None
        }
    }
}

/// The largest `k` (1-based) such that the `k`-th smallest and `k`-th largest of `n`
/// values bracket the median with probability at least 95 %: P(Binomial(n, 1/2) < k) is
/// at most 2.5 %. `None` when even the smallest and largest cannot (n < 6).
fn order_statistic(n: usize) -> Option<usize> {
    let total = 2f64.powi(n as i32);
    let mut below = 0.0; // P(X < k) * 2^n, built up term by term
    let mut choose = 1.0; // C(n, k - 1)
    let mut k = 0;
    for i in 0..=n / 2 {
        below += choose;
        if below / total > 0.025 {
            break;
        }
        k = i + 1;
        choose = choose * (n - i) as f64 / (i + 1) as f64;
    }
    (k > 0).then_some(k)
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.interval {
            Some((low, high)) => write!(f, "{:.2}x ({:.2} - {:.2})", self.median, low, high),
            None => write!(f, "{:.2}x (too few rounds)", self.median),
        }
    }
}
