//! The echo benchmark's confidence interval for a median of per-round ratios: the order
//! statistics it picks, and what its verdicts say.

#[path = "../benches/echo/spread.rs"]
mod spread;

use spread::Spread;

/// P(Binomial(n, 1/2) < k), the chance that the k-th smallest of n values lies above the
/// median, worked out directly.
fn tail(n: u32, k: u32) -> f64 {
    let choose = |n: u32, i: u32| (0..i).fold(1.0, |c, j| c * f64::from(n - j) / f64::from(j + 1));
    (0..k).map(|i| choose(n, i)).sum::<f64>() / 2f64.powi(n as i32)
}

#[test]
fn the_interval_takes_the_widest_order_statistics_that_keep_95_percent() {
    for n in 6..=40u32 {
        let values: Vec<f64> = (1..=n).map(f64::from).collect();
        let (low, _) = Spread::of(values).interval.expect("6 or more values");
        let k = low as u32; // the values are 1..=n, so the k-th smallest is k
        assert!(2.0 * tail(n, k) <= 0.05, "n={n}: k={k} covers less than 95 %");
        assert!(2.0 * tail(n, k + 1) > 0.05, "n={n}: k={} would still cover 95 %", k + 1);
    }
}

#[test]
fn known_intervals() {
    let of = |n: u32| Spread::of((1..=n).map(f64::from).collect()).interval;
    assert_eq!(of(5), None);
    assert_eq!(of(6), Some((1.0, 6.0)));
    assert_eq!(of(9), Some((2.0, 8.0)));
    assert_eq!(of(25), Some((8.0, 18.0)));
}

#[test]
fn the_order_of_the_rounds_does_not_matter() {
    let a = Spread::of(vec![1.3, 0.7, 1.0, 0.9, 1.1, 1.2, 0.8]);
    assert_eq!(a.median, 1.0);
    assert_eq!(a.interval, Some((0.7, 1.3)));
}

#[test]
fn verdicts() {
    let spread = |low: f64, high: f64| Spread { median: (low + high) / 2.0, interval: Some((low, high)) };
    assert_eq!(spread(1.01, 1.2).verdict(1.0), Some(true));
    assert_eq!(spread(1.0, 1.2).verdict(1.0), Some(true));
    assert_eq!(spread(0.8, 0.99).verdict(1.0), Some(false));
    assert_eq!(spread(0.9, 1.1).verdict(1.0), None);
    assert_eq!(Spread::of(vec![1.5; 5]).verdict(1.0), None, "too few rounds to say");
}
