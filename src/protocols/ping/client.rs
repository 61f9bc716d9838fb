//! The udp-ping client: one probe per interval (shrinking by `decay` after each, as in the
//! classic second experiment), each carrying its sequence number and send time.
//!
//! A probe's window is open until the next send (the classic rule) or for `timeout` if one
//! is given; a probe unanswered when its window closes is lost. A reply is matched to its
//! own probe by the header it carries back, so a reply after the window is reported as
//! late, with its own RTT, and never taken for a newer probe's reply (the classic client's
//! mistake). A server that answers with the fixed classic text cannot be matched that way:
//! such a reply is given to the latest probe if it is still waiting, as the classic client
//! does, and the client says once that it is doing so.
//!
//! Set-up: `Reactor::bind_udp` (any port, the server's family), [`PingClient::use_socket`],
//! then `run`; the client stops the reactor when the last window closes. What happens is
//! told as [`Event`]s to the function given to [`PingClient::on_event`] (ping(8)-style lines
//! through `Display`); the numbers are read afterwards from [`PingClient::log`] and
//! [`PingClient::summary`].

use super::event::{Event, ReplyKind};
use super::probes::{Matched, Outcome, ProbeLog};
use super::summary::Summary;
use super::table::{self, Second};
use super::wire::Header;
use crate::{ConnId, ConnInfo, Context, Handler, TimerId};
use log::{debug, error};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A decaying interval stops shrinking here (or at the first interval, if that is
/// shorter), so an endless run with `--decay` cannot turn into a flood.
pub const MIN_DECAYED_INTERVAL: Duration = Duration::from_millis(1);
/// The shortest wait for the answer to `C <size>`.
const MIN_CALIBRATION_WAIT: Duration = Duration::from_secs(1);

const SEND: u64 = 0;
const CALIBRATION: u64 = 1;
/// Probe `seq`'s window closes on the timer keyed `seq + DEADLINE`.
const DEADLINE: u64 = 1;

#[derive(Clone, Debug, PartialEq)]
pub struct PingOptions {
    /// Probes to send; `None`: until stopped (Ctrl-C).
    pub count: Option<u64>,
    /// The first gap between sends.
    pub interval: Duration,
    /// Each gap is the previous one times this (0 < decay <= 1; 1 keeps it fixed).
    pub decay: f64,
    /// Bytes per probe (never fewer than its header `PING <seq> <nanos>;`, 9 to 47 bytes).
    pub size: usize,
    /// How long a probe waits for its reply; `None`: until the next send.
    pub timeout: Option<Duration>,
    /// Send `C <size>` first and wait for its answer, as the classic client does. A server
    /// reads 1024 bytes of a datagram until told otherwise, so bigger probes need it.
    pub calibrate: bool,
}

impl Default for PingOptions {
    fn default() -> Self {
        PingOptions {
            count: None,
            interval: Duration::from_secs(1),
            decay: 1.0,
            size: 64,
            timeout: None,
            calibrate: false,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Phase {
    Start,
    Calibrating(TimerId),
    Probing,
    Done,
}

pub struct PingClient {
    server: SocketAddr,
    opts: PingOptions,
    sock: Option<ConnId>,
    phase: Phase,
    /// When the first probe left: probe send times are counted from here.
    epoch: Option<Instant>,
    /// The gap before the next send.
    interval: Duration,
    log: ProbeLog,
    deadlines: HashMap<u64, TimerId>,
    classic: bool,
    unmatched: u64,
    elapsed: Duration,
    interrupted: bool,
    real_clock: bool,
    sink: Box<dyn FnMut(&Event)>,
}

impl PingClient {
    pub fn new(server: SocketAddr, opts: PingOptions) -> PingClient {
        PingClient {
            server,
            interval: opts.interval,
            opts,
            sock: None,
            phase: Phase::Start,
            epoch: None,
            log: ProbeLog::new(),
            deadlines: HashMap::new(),
            classic: false,
            unmatched: 0,
            elapsed: Duration::ZERO,
            interrupted: false,
            real_clock: false,
            sink: Box::new(|_| {}),
        }
    }

    /// The UDP socket to probe from (bound with `Reactor::bind_udp` before `run`).
    pub fn use_socket(&mut self, sock: ConnId) {
        self.sock = Some(sock);
    }

    /// Time sends and replies by the system clock at the moment they happen instead of by
    /// [`Context::now`], which is read once per turn of the loop: a reply read late in a
    /// busy turn would otherwise be timed as if it came at the turn's start. Tests leave
    /// it off, so that virtual time decides.
    pub fn use_real_clock(&mut self) {
        self.real_clock = true;
    }

    /// Where events go (by default, nowhere).
    pub fn on_event(&mut self, sink: impl FnMut(&Event) + 'static) {
        self.sink = Box::new(sink);
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    pub fn options(&self) -> &PingOptions {
        &self.opts
    }

    pub fn log(&self) -> &ProbeLog {
        &self.log
    }

    /// From the first send to the end of the run.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The run was stopped (Ctrl-C) before its last probe's window closed.
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// Replies had no sequence numbers and were matched the classic way.
    pub fn classic(&self) -> bool {
        self.classic
    }

    /// Datagrams that answered no probe.
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }

    pub fn summary(&self) -> Summary {
        Summary::of(&self.log, self.server, self.elapsed)
    }

    pub fn seconds(&self) -> Vec<Second> {
        table::per_second(self.log.probes(), nanos(self.elapsed))
    }

    fn emit(&mut self, event: Event) {
        (self.sink)(&event);
    }

    fn now(&self, ctx: &Context<'_>) -> Instant {
        if self.real_clock { Instant::now() } else { ctx.now() }
    }

    fn now_ns(&self, ctx: &Context<'_>) -> u64 {
        self.epoch.map_or(0, |epoch| nanos(self.now(ctx).saturating_duration_since(epoch)))
    }

    fn all_sent(&self) -> bool {
        self.opts.count.is_some_and(|count| self.log.len() as u64 >= count)
    }

    fn begin(&mut self, ctx: &mut Context<'_>) {
        self.phase = Phase::Probing;
        self.epoch = Some(self.now(ctx));
        self.send_probe(ctx);
    }

    fn send_probe(&mut self, ctx: &mut Context<'_>) {
        let Some(sock) = self.sock else { return };
        let sent_ns = self.now_ns(ctx);
        let seq = self.log.len() as u64 + 1;
        let probe = Header { seq, sent_ns }.probe(self.opts.size);
        self.log.push(sent_ns, probe.len());
        ctx.send_to(sock, self.server, &probe);
        // Set before the next send's timer: at the same instant, the window closes first.
        let window = self.opts.timeout.unwrap_or(self.interval);
        self.deadlines.insert(seq, ctx.set_global_timer(window, seq + DEADLINE));
        if !self.all_sent() {
            ctx.set_global_timer(self.interval, SEND);
            let floor = MIN_DECAYED_INTERVAL.min(self.opts.interval);
            self.interval = self.interval.mul_f64(self.opts.decay.clamp(f64::MIN_POSITIVE, 1.0)).max(floor);
        }
    }

    fn on_reply(&mut self, ctx: &mut Context<'_>, from: SocketAddr, data: &[u8]) {
        let now_ns = self.now_ns(ctx);
        let (seq, matched) = match Header::parse_reply(data) {
            Some(h) => (h.seq, self.log.reply(h.seq, h.sent_ns, now_ns)),
            None => {
                if !self.classic {
                    self.classic = true;
                    self.emit(Event::ClassicReplies);
                }
                match self.log.last().filter(|p| p.outcome == Outcome::Pending) {
                    Some(p) => {
                        let (seq, sent_ns) = (p.seq, p.sent_ns);
                        (seq, self.log.reply(seq, sent_ns, now_ns))
                    }
                    None => (0, Matched::Unknown),
                }
            }
        };
        let (kind, rtt_ns) = match matched {
            Matched::OnTime(rtt) => {
                if let Some(timer) = self.deadlines.remove(&seq) {
                    ctx.cancel_timer(timer);
                }
                (ReplyKind::OnTime, rtt)
            }
            Matched::Late(rtt) => (ReplyKind::Late, rtt),
            Matched::Duplicate(rtt) => (ReplyKind::Duplicate, rtt),
            Matched::Unknown => {
                self.unmatched += 1;
                return self.emit(Event::Unmatched { bytes: data.len(), from });
            }
        };
        let rtt = Duration::from_nanos(rtt_ns);
        self.emit(Event::Reply { seq, bytes: data.len(), from, rtt, kind });
    }

    fn finish_if_done(&mut self, ctx: &mut Context<'_>) {
        if self.phase == Phase::Probing && self.all_sent() && self.log.pending() == 0 {
            self.end(ctx);
            ctx.stop();
        }
    }

    fn end(&mut self, ctx: &mut Context<'_>) {
        let now = self.now(ctx);
        self.elapsed = now.saturating_duration_since(self.epoch.unwrap_or(now));
        for (_, timer) in self.deadlines.drain() {
            ctx.cancel_timer(timer);
        }
        self.log.expire_all();
        self.phase = Phase::Done;
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Handler for PingClient {
    /// UDP only: no connections.
    type Conn = ();

    fn started(&mut self, ctx: &mut Context<'_>) {
        self.emit(Event::Start { to: self.server, size: self.opts.size });
        let Some(sock) = self.sock else {
            error!("udp-ping client: no socket (call use_socket before run)");
            self.phase = Phase::Done;
            return ctx.stop();
        };
        if self.opts.calibrate {
            ctx.send_to(sock, self.server, format!("C {}", self.opts.size).as_bytes());
            let wait = self.opts.timeout.unwrap_or(self.opts.interval).max(MIN_CALIBRATION_WAIT);
            self.phase = Phase::Calibrating(ctx.set_global_timer(wait, CALIBRATION));
        } else {
            self.begin(ctx);
        }
    }

    fn connected(&mut self, ctx: &mut Context<'_>, _id: ConnId, _info: &ConnInfo) {
        ctx.abort();
    }

    fn data(&mut self, _conn: &mut (), _ctx: &mut Context<'_>, data: &[u8]) -> usize {
        data.len()
    }

    fn datagram(&mut self, ctx: &mut Context<'_>, _sock: ConnId, from: SocketAddr, data: &[u8]) {
        match self.phase {
            Phase::Calibrating(timer) => {
                ctx.cancel_timer(timer);
                self.emit(Event::Calibrated { bytes: data.len() });
                self.begin(ctx);
            }
            Phase::Probing => {
                self.on_reply(ctx, from, data);
                self.finish_if_done(ctx);
            }
            Phase::Start | Phase::Done => debug!("{from}: {} bytes after the run", data.len()),
        }
    }

    fn global_timer(&mut self, ctx: &mut Context<'_>, key: u64) {
        match (key, &self.phase) {
            (CALIBRATION, Phase::Calibrating(_)) => {
                let waited = self.opts.timeout.unwrap_or(self.opts.interval).max(MIN_CALIBRATION_WAIT);
                self.emit(Event::NotCalibrated { waited });
                self.begin(ctx);
            }
            (SEND, Phase::Probing) => self.send_probe(ctx),
            (key, Phase::Probing) if key > DEADLINE => {
                let seq = key - DEADLINE;
                self.deadlines.remove(&seq);
                if self.log.expire(seq) {
                    self.emit(Event::NoAnswer { seq });
                }
                self.finish_if_done(ctx);
            }
            _ => {}
        }
    }

    fn stopping(&mut self, ctx: &mut Context<'_>) {
        if self.phase != Phase::Done {
            self.interrupted = true;
            self.end(ctx);
        }
    }
}
