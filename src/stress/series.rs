//! The per-second series: throughput and latency of each interval of the run, as iperf3
//! prints them, so a reader sees warm-up, steady state, stalls and drift instead of one
//! average that hides them.

use super::histogram::{self, Micros, Percentiles};
use serde::Serialize;

/// One interval of the run (normally one second; the last may be shorter).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// Seconds since the run started.
    pub start_secs: f64,
    pub end_secs: f64,
    /// Replies completed and verified in this interval.
    pub messages: u64,
    pub msgs_per_sec: f64,
    /// Reply bytes verified per second.
    pub bytes_per_sec: f64,
    pub latency: Percentiles,
    /// Connections open when the interval ended.
    pub open: u64,
    /// Began inside the warm-up: shown, but left out of the run's totals.
    pub omitted: bool,
}

pub(crate) struct Series {
    warmup_ns: u64,
    start_ns: u64,
    messages: u64,
    bytes: u64,
    latency: Micros,
    intervals: Vec<Interval>,
}

/// An interval shorter than this with nothing in it is an artefact of the last tick and
/// the end of the run falling together; it is not shown.
const MIN_INTERVAL_NS: u64 = 1_000_000;

impl Series {
    pub(crate) fn new(warmup_ns: u64, expected_intervals: usize) -> Series {
        Series {
            warmup_ns,
            start_ns: 0,
            messages: 0,
            bytes: 0,
            latency: histogram::new(),
            intervals: Vec::with_capacity(expected_intervals),
        }
    }

    /// Intervals that begin before `ns` are shown as omitted (a load's set-up, the warm-up).
    pub(crate) fn omit_until(&mut self, ns: u64) {
        self.warmup_ns = ns;
    }

    pub(crate) fn message(&mut self, latency_ns: u64) {
        self.messages += 1;
        histogram::record_ns(&mut self.latency, latency_ns);
    }

    pub(crate) fn bytes(&mut self, n: u64) {
        self.bytes += n;
    }

    /// Ends the current interval at `now_ns` and starts the next.
    pub(crate) fn close(&mut self, now_ns: u64, open: u64) {
        let elapsed_ns = now_ns.saturating_sub(self.start_ns);
        if elapsed_ns < MIN_INTERVAL_NS && self.messages == 0 && self.bytes == 0 {
            return;
        }
        let secs = elapsed_ns.max(1) as f64 / 1e9;
        self.intervals.push(Interval {
            start_secs: self.start_ns as f64 / 1e9,
            end_secs: now_ns as f64 / 1e9,
            messages: self.messages,
            msgs_per_sec: self.messages as f64 / secs,
            bytes_per_sec: self.bytes as f64 / secs,
            latency: Percentiles::of(&self.latency),
            open,
            omitted: self.start_ns < self.warmup_ns,
        });
        self.start_ns = now_ns;
        self.messages = 0;
        self.bytes = 0;
        self.latency.reset();
    }

    pub(crate) fn intervals(&self) -> &[Interval] {
        &self.intervals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn buckets_hold_what_happened_in_them() {
        let mut s = Series::new(SEC, 4);
        s.message(2_000_000);
        s.bytes(64);
        s.close(SEC, 10);
        for _ in 0..4 {
            s.message(1_000_000);
            s.bytes(64);
        }
        s.close(2 * SEC, 9);
        s.message(5_000_000);
        s.close(2 * SEC + SEC / 2, 8);
        let iv = s.intervals();
        assert_eq!(iv.len(), 3);
        assert_eq!((iv[0].start_secs, iv[0].end_secs, iv[0].messages), (0.0, 1.0, 1));
        assert!(iv[0].omitted, "inside the warm-up");
        assert_eq!(iv[0].latency.max_us, 2_000);
        assert_eq!((iv[1].messages, iv[1].msgs_per_sec, iv[1].bytes_per_sec), (4, 4.0, 256.0));
        assert_eq!(iv[1].latency.p50_us, 1_000, "the histogram restarts each interval");
        assert!(!iv[1].omitted);
        assert_eq!(iv[1].open, 9);
        assert_eq!((iv[2].end_secs, iv[2].msgs_per_sec), (2.5, 2.0), "a short last interval is a rate too");
    }

    #[test]
    fn an_empty_sliver_at_the_end_is_not_an_interval() {
        let mut s = Series::new(0, 2);
        s.message(1);
        s.close(SEC, 1);
        s.close(SEC + 10, 1);
        assert_eq!(s.intervals().len(), 1);
    }
}
