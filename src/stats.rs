//! The reactor's counters, in one struct that the stats line, the tests and the JSON
//! reports all read.
//!
//! Only the reactor thread writes, so a counter is bumped with a plain load and store
//! (no locked read-modify-write on the hot path); any thread may read a consistent-enough
//! snapshot through a [`crate::Handle`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A counter with a single writer (the reactor thread) and any number of readers.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    pub(crate) fn set_max(&self, n: u64) {
        if n > self.0.load(Relaxed) {
            self.0.store(n, Relaxed);
        }
    }

    pub(crate) fn set(&self, n: u64) {
        self.0.store(n, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Why a connection ended. Every close is counted under exactly one reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The protocol asked for the close (a finished exchange, a protocol error).
    Local,
    /// The peer closed cleanly (FIN) and everything owed to it was sent.
    PeerClosed,
    /// The peer reset the connection (RST, EPIPE).
    Reset,
    /// Any other socket error.
    Error,
    /// Nothing moved for longer than the idle timeout.
    IdleTimeout,
    /// Accepted while `max_conns` connections were open.
    MaxConns,
    /// The peer sent more unconsumed input than the input limit allows.
    InputOverflow,
    /// The reactor stopped and the grace period ran out, or the stop was immediate.
    Shutdown,
    /// An outbound connect did not complete.
    ConnectFailed,
}

impl CloseReason {
    pub const ALL: [CloseReason; 9] = [
        CloseReason::Local,
        CloseReason::PeerClosed,
        CloseReason::Reset,
        CloseReason::Error,
        CloseReason::IdleTimeout,
        CloseReason::MaxConns,
        CloseReason::InputOverflow,
        CloseReason::Shutdown,
        CloseReason::ConnectFailed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Local => "local",
            CloseReason::PeerClosed => "peer_closed",
            CloseReason::Reset => "reset",
            CloseReason::Error => "error",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::MaxConns => "max_conns",
            CloseReason::InputOverflow => "input_overflow",
            CloseReason::Shutdown => "shutdown",
            CloseReason::ConnectFailed => "connect_failed",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Default)]
pub struct Stats {
    /// Connections accepted on listeners (including those closed at once for `max_conns`).
    pub accepted: Counter,
    /// Outbound connects that completed.
    pub connected: Counter,
    closed: [Counter; CloseReason::ALL.len()],
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    pub datagrams_in: Counter,
    pub datagrams_out: Counter,
    /// Datagrams the kernel would not take (send buffer full, no route, too long): dropped,
    /// never queued.
    pub datagrams_dropped: Counter,
    pub polls: Counter,
    pub events: Counter,
    pub timers_fired: Counter,
    /// Connections open right now.
    pub open: Counter,
    /// Bytes queued for all connections right now (not yet taken by the kernel).
    pub pending_out: Counter,
    /// The most bytes ever queued for a single connection.
    pub peak_conn_pending_out: Counter,
    /// Accept calls that failed for lack of file descriptors (EMFILE/ENFILE).
    pub accept_fd_exhausted: Counter,
}

impl Stats {
    pub fn closed(&self, reason: CloseReason) -> u64 {
        self.closed[Self::slot(reason)].get()
    }

    pub fn closed_total(&self) -> u64 {
        self.closed.iter().map(Counter::get).sum()
    }

    pub(crate) fn count_close(&self, reason: CloseReason) {
        self.closed[Self::slot(reason)].add(1);
    }

    fn slot(reason: CloseReason) -> usize {
        CloseReason::ALL.iter().position(|r| *r == reason).unwrap_or(0)
    }
}

/// One line, `key=value` pairs, zero-valued close reasons left out.
impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "accepted={} connected={} open={} closed={}",
            self.accepted.get(),
            self.connected.get(),
            self.open.get(),
            self.closed_total()
        )?;
        let reasons: Vec<String> = CloseReason::ALL
            .iter()
            .filter(|r| self.closed(**r) > 0)
            .map(|r| format!("{}:{}", r, self.closed(*r)))
            .collect();
        if !reasons.is_empty() {
            write!(f, " ({})", reasons.join(" "))?;
        }
        write!(
            f,
            " bytes_in={} bytes_out={} pending_out={} peak_conn_pending_out={}",
            self.bytes_in.get(),
            self.bytes_out.get(),
            self.pending_out.get(),
            self.peak_conn_pending_out.get()
        )?;
        if self.datagrams_in.get() + self.datagrams_out.get() > 0 {
            write!(
                f,
                " datagrams_in={} datagrams_out={} datagrams_dropped={}",
                self.datagrams_in.get(),
                self.datagrams_out.get(),
                self.datagrams_dropped.get()
            )?;
        }
        write!(
            f,
            " polls={} events={} timers={}",
            self.polls.get(),
            self.events.get(),
            self.timers_fired.get()
        )
    }
}
