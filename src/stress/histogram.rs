//! Latency histograms: HDR histograms in microseconds, and the percentiles a report shows.
//!
//! An HDR histogram keeps every value to 3 significant digits in fixed memory, so recording
//! on the hot path never allocates and p99.9 and max are exact enough to trust, where an
//! average or a sampled reservoir would hide the tail (Gil Tene, "How NOT to measure
//! latency").

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// The largest latency kept apart from others; anything slower is recorded as this.
const HIGHEST_US: u64 = 3_600_000_000;

pub(crate) type Micros = Histogram<u64>;

pub(crate) fn new() -> Micros {
    // Fixed bounds: recording never resizes (never allocates); slower values saturate.
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("constant histogram bounds are valid")
}

/// Records a latency, rounded down to whole microseconds.
pub(crate) fn record_ns(h: &mut Micros, ns: u64) {
    h.saturating_record(ns / 1_000);
}

/// The summary every latency in a report is given by, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    #[serde(rename = "p99.9_us")]
    pub p99_9_us: u64,
    pub max_us: u64,
}

impl Percentiles {
    pub(crate) fn of(h: &Micros) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p99_9_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }
}

/// `870us`, `12.3ms`, `1.52s`: short enough for an interval line, precise enough to compare.
pub(crate) fn human_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}us")
    } else if us < 1_000_000 {
        let ms = format!("{:.2}", us as f64 / 1e3);
        format!("{}ms", ms.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{:.2}s", Duration::from_micros(us).as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_samples() {
        let mut h = new();
        for us in 1..=1000u64 {
            record_ns(&mut h, us * 1_000 + 999);
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50_us, 500);
        assert_eq!(p.p90_us, 900);
        assert_eq!(p.p99_us, 990);
        assert_eq!(p.p99_9_us, 999);
        assert_eq!(p.max_us, 1000);
        assert!((p.mean_us - 500.5).abs() < 1.0, "{}", p.mean_us);
    }

    #[test]
    fn sub_microsecond_and_absurd_values_are_kept_not_dropped() {
        let mut h = new();
        record_ns(&mut h, 300);
        record_ns(&mut h, u64::MAX);
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 2);
        assert_eq!(p.p50_us, 0);
        assert!(p.max_us >= HIGHEST_US);
    }

    #[test]
    fn empty_is_all_zero() {
        assert_eq!(Percentiles::of(&new()), Percentiles::default());
    }

    #[test]
    fn human_units() {
        assert_eq!(human_us(870), "870us");
        assert_eq!(human_us(12_300), "12.3ms");
        assert_eq!(human_us(1_000), "1ms");
        assert_eq!(human_us(1_520_000), "1.52s");
    }
}
