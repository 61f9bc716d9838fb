//! The measurements of one run, recorded as they happen. Recording is a few additions and
//! one histogram increment: nothing on the per-reply path allocates.
//!
//! Two clocks of attention: errors and connects are counted over the whole run (a failure in
//! the warm-up is still a failure), while throughput and latency count only after the
//! warm-up, when caches, the server's accept queue and TCP's windows have settled.

use super::errors::Errors;
use super::histogram::{self, Micros};
use super::series::Series;
use std::io;

pub(crate) struct Recorder {
    measure_from_ns: u64,
    /// The end of the run: what comes after (a load waiting for what it is owed) is checked
    /// for errors but not measured.
    measure_until_ns: u64,
    /// Replies completed after the warm-up, by latency.
    pub(crate) latency: Micros,
    /// Every established connect, by how long it took.
    pub(crate) connect_time: Micros,
    pub(crate) series: Series,
    pub(crate) errors: Errors,
    pub(crate) attempted: u64,
    pub(crate) established: u64,
    /// Connects cut off by the end of the run less than a second after they began.
    pub(crate) abandoned: u64,
    /// After the warm-up only.
    pub(crate) messages: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    /// Replies still in flight on connections open when the run ended.
    pub(crate) in_flight_at_end: u64,
    pub(crate) open: u64,
    pub(crate) peak_open: u64,
    /// What only conversations (chat, relay) count; `None` for request/reply loads.
    pub(crate) fanout: Option<FanOutCounts>,
    /// Verified replies per second of each connection open at the end of the measured
    /// window, for at least half of it ([`super::shares`]).
    pub(crate) shares: Vec<f64>,
}

/// A conversation's own counts. Its deliveries are the recorder's messages (each is timed
/// from the send to its arrival at one receiver); these say what caused them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FanOutCounts {
    /// Clients that finished their set-up (registered a name).
    pub(crate) ready: u64,
    /// Messages sent, after the warm-up.
    pub(crate) sent: u64,
    /// Deliveries each message was owed when the run began (members - 1 in a room).
    pub(crate) audience: u64,
    /// Acknowledgements received, after the warm-up (relay's `200`).
    pub(crate) acks: u64,
}

impl Recorder {
    pub(crate) fn new(warmup_ns: u64, expected_intervals: usize) -> Recorder {
        Recorder {
            measure_from_ns: warmup_ns,
            measure_until_ns: u64::MAX,
            latency: histogram::new(),
            connect_time: histogram::new(),
            series: Series::new(warmup_ns, expected_intervals),
            errors: Errors::default(),
            attempted: 0,
            established: 0,
            abandoned: 0,
            messages: 0,
            bytes_sent: 0,
            bytes_received: 0,
            in_flight_at_end: 0,
            open: 0,
            peak_open: 0,
            fanout: None,
            shares: Vec::new(),
        }
    }

    /// Measures from `ns` on (a load's set-up plus the warm-up); before, only errors count.
    pub(crate) fn measure_from(&mut self, ns: u64) {
        self.measure_from_ns = ns;
        self.series.omit_until(ns);
    }

    pub(crate) fn measure_from_ns(&self) -> u64 {
        self.measure_from_ns
    }

    fn measuring(&self, now_ns: u64) -> bool {
        now_ns >= self.measure_from_ns && self.shown(now_ns)
    }

    /// Whether the per-second series still takes things in (it shows the warm-up, not what
    /// comes after the end).
    fn shown(&self, now_ns: u64) -> bool {
        now_ns < self.measure_until_ns
    }

    pub(crate) fn stop_measuring(&mut self, now_ns: u64) {
        self.measure_until_ns = now_ns;
    }

    /// A reply arrived whole; `correct` is false if any of its bytes was wrong. True if it
    /// counts in the measured figures.
    pub(crate) fn reply(&mut self, now_ns: u64, latency_ns: u64, correct: bool) -> bool {
        if !correct {
            self.errors.mismatched += 1;
            return false;
        }
        if !self.shown(now_ns) {
            return false;
        }
        self.series.message(latency_ns);
        if !self.measuring(now_ns) {
            return false;
        }
        self.messages += 1;
        histogram::record_ns(&mut self.latency, latency_ns);
        true
    }

    /// A connection (open since `connected_ns`) ended with `replies` measured: its share of
    /// the server's attention, if it was open at the end of the window, for half of it.
    pub(crate) fn share(&mut self, connected_ns: u64, now_ns: u64, replies: u32) {
        if self.shown(now_ns) {
            return; // closed before the end: an error or a cut, counted as such
        }
        let (from, until) = (self.measure_from_ns, self.measure_until_ns);
        let open_ns = until.saturating_sub(connected_ns.max(from));
        if open_ns > 0 && open_ns >= until.saturating_sub(from) / 2 {
            self.shares.push(f64::from(replies) / (open_ns as f64 / 1e9));
        }
    }

    pub(crate) fn received(&mut self, now_ns: u64, n: usize) {
        if !self.shown(now_ns) {
            return;
        }
        self.series.bytes(n as u64);
        if self.measuring(now_ns) {
            self.bytes_received += n as u64;
        }
    }

    pub(crate) fn sent(&mut self, now_ns: u64, n: usize) {
        if self.measuring(now_ns) {
            self.bytes_sent += n as u64;
        }
    }

    /// A conversation's message went out.
    pub(crate) fn message_sent(&mut self, now_ns: u64) {
        let measuring = self.measuring(now_ns);
        if let Some(f) = self.fanout.as_mut().filter(|_| measuring) {
            f.sent += 1;
        }
    }

    /// A conversation's message was acknowledged by the server.
    pub(crate) fn acked(&mut self, now_ns: u64) {
        let measuring = self.measuring(now_ns);
        if let Some(f) = self.fanout.as_mut().filter(|_| measuring) {
            f.acks += 1;
        }
    }

    pub(crate) fn connected(&mut self, took_ns: u64) {
        self.established += 1;
        histogram::record_ns(&mut self.connect_time, took_ns);
        self.open += 1;
        self.peak_open = self.peak_open.max(self.open);
    }

    pub(crate) fn connect_failed(&mut self, e: &io::Error) {
        self.errors.connect.count(e);
    }

    pub(crate) fn closed(&mut self) {
        self.open = self.open.saturating_sub(1);
    }
}
