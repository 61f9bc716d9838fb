//! `sockloop ping --flood`: many senders, each its own UDP socket, all driven by one
//! thread, to see how many datagrams one reactor moves and what the loss is under load.
//!
//! Each sender is lock-step, like the classic client: one numbered probe in flight; the
//! reply (matched by sequence number and send time) or the timeout sends the next one at
//! once. A reply after its timeout is late and does not count. The run ends after
//! `duration`; probes still in flight then are neither received nor lost.
//!
//! Set-up: `Reactor::bind_udp` once per sender and [`Flood::add_sender`] for each, then
//! `run`; read [`Flood::report`] afterwards. The server must echo our header: the sockloop
//! server does, and so does any UDP echo server; fixed classic replies match nothing.

use super::wire::Header;
use super::{CALIBRATED, DEFAULT_RECV_SIZE};
use crate::{ConnId, ConnInfo, Context, Handler, TimerId};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The timer key that ends the run; sender `i`'s timeout is keyed `i`.
const END: u64 = u64::MAX;

#[derive(Clone, Debug, PartialEq)]
pub struct FloodOptions {
    pub size: usize,
    /// A probe unanswered this long is lost, and its sender moves on.
    pub timeout: Duration,
    pub duration: Duration,
}

struct Sender {
    sock: ConnId,
    next_seq: u64,
    /// The probe in flight: its header and its timeout.
    in_flight: Option<(Header, TimerId)>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FloodReport {
    pub target: SocketAddr,
    pub senders: usize,
    pub size: usize,
    pub elapsed_secs: f64,
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    pub late: u64,
    /// Datagrams that answered no probe of their socket.
    pub unmatched: u64,
    /// Probes in flight when the run ended: neither received nor lost.
    pub in_flight_at_end: u64,
    pub loss_percent: f64,
    /// Completed round trips per second.
    pub round_trips_per_sec: f64,
    /// Datagrams through this one thread per second, both directions.
    pub datagrams_per_sec: f64,
    pub rtt: Latency,
}

/// Round-trip times in microseconds, with the fractions: a loopback round trip is a few
/// microseconds, where whole microseconds would blur a 10% difference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Latency {
        let us = |ns: u64| ns as f64 / 1e3;
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            mean_us: h.mean() / 1e3,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            max_us: us(h.max()),
        }
    }
}

pub struct Flood {
    server: SocketAddr,
    opts: FloodOptions,
    senders: Vec<Sender>,
    by_sock: HashMap<ConnId, usize>,
    epoch: Option<Instant>,
    elapsed: Duration,
    running: bool,
    sent: u64,
    received: u64,
    lost: u64,
    late: u64,
    unmatched: u64,
    /// Nanoseconds, 3 significant digits, up to an hour: fixed bounds, so recording never
    /// allocates; about 300 KB.
    rtt_ns: Histogram<u64>,
    /// Round trips are timed by the system clock at each send and each reply, not by
    /// [`Context::now`]: that is read once per turn of the loop, and under load one turn reads
    /// hundreds of replies (and a fast server's next reply may be read in the same turn as the
    /// send it answers), so the turn's time would be off by up to the turn's length. In tests,
    /// [`Flood::with_turn_clock`] keeps virtual time.
    turn_clock: bool,
}

impl Flood {
    pub fn new(server: SocketAddr, opts: FloodOptions) -> Flood {
        Flood {
            server,
            opts,
            senders: Vec::new(),
            by_sock: HashMap::new(),
            epoch: None,
            elapsed: Duration::ZERO,
            running: false,
            sent: 0,
            received: 0,
            lost: 0,
            late: 0,
            unmatched: 0,
            // Fixed bounds (1 us .. 1 h, 3 digits): recording never allocates.
            rtt_ns: Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("constant bounds are valid"),
            turn_clock: false,
        }
    }

    /// Times everything by [`Context::now`] (virtual time under `TestTransport`).
    pub fn with_turn_clock(mut self) -> Flood {
        self.turn_clock = true;
        self
    }

    fn now(&self, ctx: &Context<'_>) -> Instant {
        if self.turn_clock { ctx.now() } else { Instant::now() }
    }

    /// One more sender, probing from `sock` (bound with `Reactor::bind_udp`).
    pub fn add_sender(&mut self, sock: ConnId) {
        self.by_sock.insert(sock, self.senders.len());
        self.senders.push(Sender { sock, next_seq: 1, in_flight: None });
    }

    pub fn report(&self) -> FloodReport {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let resolved = self.received + self.lost;
        FloodReport {
            target: self.server,
            senders: self.senders.len(),
            size: self.opts.size,
            elapsed_secs: self.elapsed.as_secs_f64(),
            sent: self.sent,
            received: self.received,
            lost: self.lost,
            late: self.late,
            unmatched: self.unmatched,
            in_flight_at_end: self.senders.iter().filter(|s| s.in_flight.is_some()).count() as u64,
            loss_percent: if resolved == 0 { 0.0 } else { self.lost as f64 * 100.0 / resolved as f64 },
            round_trips_per_sec: self.received as f64 / secs,
            datagrams_per_sec: (self.sent + self.received + self.late) as f64 / secs,
            rtt: Latency::of(&self.rtt_ns),
        }
    }

    fn now_ns(&self, ctx: &Context<'_>) -> u64 {
        let since = self.epoch.map_or(Duration::ZERO, |e| self.now(ctx).saturating_duration_since(e));
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    }

    fn send(&mut self, ctx: &mut Context<'_>, i: usize) {
        let sent_ns = self.now_ns(ctx);
        let Some(s) = self.senders.get_mut(i) else { return };
        let header = Header { seq: s.next_seq, sent_ns };
        s.next_seq += 1;
        ctx.send_to(s.sock, self.server, &header.probe(self.opts.size));
        s.in_flight = Some((header, ctx.set_global_timer(self.opts.timeout, i as u64)));
        self.sent += 1;
    }

    fn end(&mut self, ctx: &mut Context<'_>) {
        if self.running {
            self.running = false;
            let now = self.now(ctx);
            self.elapsed = now.saturating_duration_since(self.epoch.unwrap_or(now));
        }
    }
}

impl Handler for Flood {
    /// UDP only: no connections.
    type Conn = ();

    fn started(&mut self, ctx: &mut Context<'_>) {
        self.epoch = Some(self.now(ctx));
        self.running = true;
        ctx.set_global_timer(self.opts.duration, END);
        // Bigger probes than a server reads by default: calibrate each socket first. On one
        // path the calibration arrives before the probe that follows it.
        let calibration = (self.opts.size > DEFAULT_RECV_SIZE).then(|| format!("C {}", self.opts.size));
        for i in 0..self.senders.len() {
            if let (Some(c), Some(s)) = (&calibration, self.senders.get(i)) {
                ctx.send_to(s.sock, self.server, c.as_bytes());
            }
            self.send(ctx, i);
        }
        if self.senders.is_empty() {
            self.end(ctx);
            ctx.stop();
        }
    }

    fn connected(&mut self, ctx: &mut Context<'_>, _id: ConnId, _info: &ConnInfo) {
        ctx.abort();
    }

    fn data(&mut self, _conn: &mut (), _ctx: &mut Context<'_>, data: &[u8]) -> usize {
        data.len()
    }

    fn datagram(&mut self, ctx: &mut Context<'_>, sock: ConnId, _from: SocketAddr, data: &[u8]) {
        if data == CALIBRATED.as_bytes() || data.starts_with(b"C ") {
            return; // the answer to a calibration (or its echo)
        }
        let now_ns = self.now_ns(ctx);
        let (Some(&i), Some(reply)) = (self.by_sock.get(&sock), Header::parse_reply(data)) else {
            self.unmatched += 1;
            return;
        };
        let Some(s) = self.senders.get_mut(i) else { return };
        match s.in_flight {
            Some((header, timer)) if header == reply => {
                ctx.cancel_timer(timer);
                s.in_flight = None;
                if !self.running {
                    return;
                }
                self.received += 1;
                self.rtt_ns.saturating_record(now_ns.saturating_sub(header.sent_ns));
                self.send(ctx, i);
            }
            _ if reply.seq < s.next_seq => self.late += 1,
            _ => self.unmatched += 1,
        }
    }

    fn global_timer(&mut self, ctx: &mut Context<'_>, key: u64) {
        if key == END {
            self.end(ctx);
            return ctx.stop();
        }
        let i = key as usize;
        let Some(s) = self.senders.get_mut(i).filter(|_| self.running) else { return };
        if s.in_flight.take().is_some() {
            self.lost += 1;
            self.send(ctx, i);
        }
    }

    fn stopping(&mut self, ctx: &mut Context<'_>) {
        self.end(ctx);
    }
}

impl fmt::Display for FloodReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |us: f64| us / 1e3;
        writeln!(
            f,
            "udp-ping flood {}: {} senders, {}-byte probes, {:.2} s",
            self.target, self.senders, self.size, self.elapsed_secs
        )?;
        writeln!(
            f,
            "{} probes sent, {} received, {} lost ({}% loss), {} late, {} in flight at the end",
            self.sent,
            self.received,
            self.lost,
            super::summary::percent_g(self.loss_percent),
            self.late,
            self.in_flight_at_end
        )?;
        writeln!(
            f,
            "{:.0} round trips/s, {:.0} datagrams/s through one thread",
            self.round_trips_per_sec, self.datagrams_per_sec
        )?;
        writeln!(
            f,
            "rtt p50/p90/p99/max = {:.3}/{:.3}/{:.3}/{:.3} ms",
            ms(self.rtt.p50_us),
            ms(self.rtt.p90_us),
            ms(self.rtt.p99_us),
            ms(self.rtt.max_us)
        )
    }
}
