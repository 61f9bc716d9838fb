//! What a reactor can be told before it runs, and what can reach it while it runs.

use super::*;

/// Tunables. The defaults suit a server on a laptop; every limit bounds memory or time that
/// a peer could otherwise make us spend.
#[derive(Clone, Debug)]
pub struct Config {
    /// Output queued for one connection above which we stop reading from it (backpressure).
    pub high_water: usize,
    /// Input a protocol may leave unconsumed (a partial frame) before the connection is
    /// closed as `InputOverflow`.
    pub max_input: usize,
    /// Bytes read from one connection per readiness event before others get their turn.
    pub read_budget: usize,
    /// Connections accepted per listener event before others get their turn.
    pub accept_budget: usize,
    /// Connections beyond this many are accepted and closed at once.
    pub max_conns: Option<usize>,
    /// Connections with no bytes moving for this long are closed.
    pub idle_timeout: Option<Duration>,
    /// How long a graceful stop waits for queued output to drain.
    pub grace: Duration,
    /// Log the counters this often.
    pub stats_interval: Option<Duration>,
    /// How long accepting pauses when the process runs out of file descriptors.
    pub accept_pause: Duration,
    /// TCP_NODELAY on every connection: protocols here write whole messages, so Nagle only
    /// adds latency.
    pub nodelay: bool,
    /// Size of the one read buffer shared by all connections.
    pub scratch_size: usize,
    /// How many readiness events one poll may return.
    pub events_capacity: usize,
    /// SO_RCVBUF for UDP sockets bound with `Reactor::bind_udp`; `None`: the kernel default.
    pub udp_recv_buffer: Option<usize>,
    /// Bytes of a file range (`Context::send_file`) sent to one connection per readiness
    /// event before others get their turn: a fast reader must not starve the rest.
    pub write_budget: usize,
    /// Send file ranges with `sendfile(2)` (Linux): no copy through user space. Off, they
    /// are read into the scratch buffer and written, as on other systems.
    pub sendfile: bool,
    /// Receive file ranges (`Context::recv_file`) with `splice(2)` through a pipe (Linux):
    /// the kernel moves socket pages to the file. Off, through the scratch buffer.
    pub splice: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            high_water: 1 << 20,
            max_input: 1 << 20,
            read_budget: 256 << 10,
            accept_budget: 256,
            max_conns: None,
            idle_timeout: None,
            grace: Duration::from_secs(5),
            stats_interval: None,
            accept_pause: Duration::from_millis(100),
            nodelay: true,
            scratch_size: 64 << 10,
            events_capacity: 1024,
            udp_recv_buffer: None,
            write_budget: 1 << 20,
            sendfile: cfg!(target_os = "linux"),
            splice: cfg!(target_os = "linux"),
        }
    }
}

/// Stops a running reactor from any thread, and reads its counters.
#[derive(Clone)]
pub struct Handle {
    pub(super) waker: Arc<Waker>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) stats: Arc<Stats>,
}

impl Handle {
    /// Begins a graceful stop: no new connections, queued output flushed (up to the grace
    /// period), then `run` returns.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Wakes the loop so it re-reads its clock (useful with a virtual clock in tests).
    pub fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            warn!("waking the reactor failed: {e}");
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}
