//! The servers measured in turns a fraction of a second long, so that each comparison is
//! made on nearly the same machine.
//!
//! On a shared VM the other tenants' load changes from one second to the next by a factor
//! of ten, and a round of whole runs (a server started, connected, warmed, measured for
//! seconds; then the next) spreads its ratios from 0.2x to 2x. Here every server is started
//! once and connected once; then one server at a time gets the load for a *turn* (a few
//! hundred milliseconds), its in-flight replies are drained, and the next server takes
//! over. A *round* is one turn of each server, in an order that rotates from round to
//! round. The ratios taken within a round compare servers a second apart, not minutes.
//!
//! The load is closed loop: each connection has one message in flight, and sends the next
//! when the reply is complete and checked byte for byte. It runs on the sockloop reactor
//! (the same one the stress tool uses), one thread pinned to CPU 0: in the bench, one load
//! process per server (`apart.rs`, [`serve_stdio`]); in the tests, one for all ([`run`]).
//! A server's CPU time is read from `/proc/PID/schedstat` (nanoseconds, stolen time left
//! out) at the turn's start and after its drain, so each turn's time is its own. Those
//! reads are of kernel memory and take microseconds, the same for every server.

use hdrhistogram::Histogram;
use sockloop::{CloseReason, Config, ConnId, ConnInfo, Context, Handler, Origin, Reactor, TimerId};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// One server's turn, as measured.
#[derive(Clone, Copy, Debug)]
pub struct Turn {
    pub msgs: u64,
    /// From the first send to the last reply of the drain.
    pub secs: f64,
    pub cpu_ns: u64,
    pub p99_us: u64,
}

impl Turn {
    pub fn msgs_per_sec(&self) -> f64 {
        self.msgs as f64 / self.secs.max(f64::MIN_POSITIVE)
    }

    pub fn cpu_ns_per_msg(&self) -> f64 {
        self.cpu_ns as f64 / self.msgs.max(1) as f64
    }

    /// The line a load process answers `go` with (`apart.rs`), with its errors so far.
    pub fn to_line(self, errors: u64) -> String {
        format!("turn {} {} {} {} {errors}\n", self.msgs, self.secs, self.cpu_ns, self.p99_us)
    }

    /// A line made by [`Turn::to_line`]: the turn and the errors.
    pub fn parse(line: &str) -> Option<(Turn, u64)> {
        let mut f = line.strip_prefix("turn ")?.split_whitespace();
        let mut next = || f.next();
        let turn = Turn {
            msgs: next()?.parse().ok()?,
            secs: next()?.parse().ok()?,
            cpu_ns: next()?.parse().ok()?,
            p99_us: next()?.parse().ok()?,
        };
        Some((turn, next()?.parse().ok()?))
    }
}

/// A server to take turns with: where it listens and whose CPU time to read (a process of
/// one thread, or a thread).
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub pid: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Connections to each server.
    pub clients: u32,
    pub size: usize,
    pub turn: Duration,
    /// Rounds measured, after `warm` rounds that are not.
    pub rounds: usize,
    pub warm: usize,
}

/// Holds `plan.clients` connections to one server and takes a turn each time a line `go`
/// comes in on stdin, answering with [`Turn::to_line`] on stdout (after a first line
/// `ready` once all are connected); ends when stdin does. The bench runs one of these per
/// server (`apart.rs`) where one process cannot hold the connections to all of them.
#[allow(dead_code)] // the bench's load processes run it; a test cannot lend it its stdio
pub fn serve_stdio(target: Target, plan: Plan) -> io::Result<()> {
    let mut reactor = Reactor::new(Turns::new(&[target], plan), config())?;
    reactor.add_stdio()?;
    reactor.run()?;
    match reactor.handler_mut().failed.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Takes the turns from one process holding the connections to every server, and returns
/// each server's measured turns, in round order, and the number of errors (a wrong byte, a
/// connection lost). The tests use it; the bench, whose rows may not fit in one process,
/// runs the same turns through `apart.rs`.
#[allow(dead_code)]
pub fn run(targets: &[Target], plan: Plan) -> io::Result<(Vec<Vec<Turn>>, u64)> {
    let mut reactor = Reactor::new(Turns::new(targets, plan), config())?;
    reactor.run()?;
    let turns = reactor.handler_mut();
    if let Some(e) = turns.failed.take() {
        return Err(e);
    }
    Ok((std::mem::take(&mut turns.measured), turns.errors))
}

/// The load's reactor: at a turn's start thousands of connections are ready at once, so
/// fewer polls per turn of the loop (as the stress tool does).
fn config() -> Config {
    Config { events_capacity: 4096, ..Config::default() }
}

/// Connects at most this many at a time, so no listen backlog overflows (a dropped SYN is
/// retried only after a second).
const CONNECTING: u32 = 256;

struct Turns {
    targets: Vec<Target>,
    plan: Plan,
    /// Every connection's state, by client number (`server * clients + i`); kept here rather
    /// than beside the socket because a turn's start writes to all of one server's at once.
    echoers: Vec<Echoer>,
    /// Connections per server: (id, client number).
    conns: Vec<Vec<(ConnId, usize)>>,
    dialled: u32,
    up: u32,
    /// Round and position in it; the server whose turn it is: `(position + round) % n`.
    round: usize,
    position: usize,
    sending: bool,
    in_flight: u32,
    started: Instant,
    cpu_at_start: u64,
    msgs: u64,
    latency: Histogram<u64>,
    measured: Vec<Vec<Turn>>,
    errors: u64,
    failed: Option<io::Error>,
    /// Under [`serve_stdio`]: where the `go`s come from and the turns go.
    stdio: Option<ConnId>,
    /// While a turn waits for its last replies: the timer that gives up on them.
    drain_timer: Option<TimerId>,
}

/// One connection of the load: its expected reply is its own payload, which carries the
/// message number in its first 8 bytes and the client number in the next 4, so a reply
/// to another message or another connection cannot pass.
struct Echoer {
    payload: Vec<u8>,
    seq: u64,
    got: usize,
    sent_at: Instant,
    waiting: bool,
}

impl Echoer {
    /// The next message: numbered, timed, and expected back.
    fn next(&mut self, now: Instant) -> &[u8] {
        self.seq += 1;
        let seq = self.seq.to_le_bytes();
        let n = seq.len().min(self.payload.len());
        self.payload[..n].copy_from_slice(&seq[..n]);
        self.sent_at = now;
        self.waiting = true;
        &self.payload
    }
}

impl Turns {
    fn new(targets: &[Target], plan: Plan) -> Turns {
        let total = plan.clients as usize * targets.len();
        let now = Instant::now();
        let echoers = (0..total)
            .map(|n| {
                let mut payload: Vec<u8> = (0..plan.size).map(|i| (n * 31 + i) as u8).collect();
                if let Some(client) = payload.get_mut(8..12) {
                    client.copy_from_slice(&(n as u32).to_le_bytes());
                }
                Echoer { payload, seq: 0, got: 0, sent_at: now, waiting: false }
            })
            .collect();
        Turns {
            targets: targets.to_vec(),
            plan,
            echoers,
            conns: vec![Vec::with_capacity(plan.clients as usize); targets.len()],
            dialled: 0,
            up: 0,
            round: 0,
            position: 0,
            sending: false,
            in_flight: 0,
            started: now,
            cpu_at_start: 0,
            msgs: 0,
            latency: Histogram::new(3).expect("3 significant figures is valid"),
            measured: vec![Vec::new(); targets.len()],
            errors: 0,
            failed: None,
            stdio: None,
            drain_timer: None,
        }
    }

    fn total(&self) -> u32 {
        self.echoers.len() as u32
    }

    fn active(&self) -> usize {
        (self.position + self.round) % self.targets.len()
    }

    fn dial(&mut self, ctx: &mut Context<'_>) {
        while self.dialled < self.total() && self.dialled - self.up < CONNECTING {
            let server = (self.dialled / self.plan.clients) as usize;
            ctx.connect(self.targets[server].addr, u64::from(self.dialled));
            self.dialled += 1;
        }
    }

    fn begin_turn(&mut self, ctx: &mut Context<'_>) {
        let server = self.active();
        self.cpu_at_start = cpu_ns(self.targets[server].pid);
        self.started = ctx.now();
        self.msgs = 0;
        self.latency.reset();
        self.sending = true;
        self.in_flight = self.conns[server].len() as u32;
        let now = ctx.now();
        for &(id, n) in &self.conns[server] {
            ctx.write_to(id, self.echoers[n].next(now));
        }
        ctx.set_global_timer(self.plan.turn, TURN_END);
    }

    /// Sending has stopped: the turn ends with its last reply, or when those still owed are
    /// given up on ([`Turns::give_up`]).
    fn stop_sending(&mut self, ctx: &mut Context<'_>) {
        self.sending = false;
        if self.in_flight == 0 {
            self.end_turn(ctx);
        } else {
            // Ten turns, and at least a second: far beyond any reply a working server owes.
            let limit = (self.plan.turn * 10).max(Duration::from_secs(1));
            self.drain_timer = Some(ctx.set_global_timer(limit, DRAIN_LIMIT));
        }
    }

    /// The server still owes replies long after sending stopped: they are lost (errors),
    /// their connections dropped, and the turn ends, so one stalled server cannot hang the
    /// bench or leak late replies into a later turn.
    fn give_up(&mut self, ctx: &mut Context<'_>) {
        self.drain_timer = None;
        for &(id, n) in &self.conns[self.active()] {
            if let Some(e) = self.echoers.get_mut(n).filter(|e| e.waiting) {
                e.waiting = false;
                self.errors += 1;
                ctx.abort_conn(id);
            }
        }
        self.in_flight = 0;
        self.end_turn(ctx);
    }

    /// The active server's last reply is in: book the turn, hand over to the next.
    fn end_turn(&mut self, ctx: &mut Context<'_>) {
        if let Some(timer) = self.drain_timer.take() {
            ctx.cancel_timer(timer);
        }
        let server = self.active();
        let turn = Turn {
            msgs: self.msgs,
            secs: ctx.now().saturating_duration_since(self.started).as_secs_f64(),
            cpu_ns: cpu_ns(self.targets[server].pid).saturating_sub(self.cpu_at_start),
            p99_us: self.latency.value_at_quantile(0.99),
        };
        if let Some(stdio) = self.stdio {
            // Whoever reads stdout decides what comes next.
            ctx.write_to(stdio, turn.to_line(self.errors).as_bytes());
            return;
        }
        if self.round >= self.plan.warm {
            self.measured[server].push(turn);
        }
        self.position += 1;
        if self.position == self.targets.len() {
            self.position = 0;
            self.round += 1;
        }
        if self.round == self.plan.warm + self.plan.rounds {
            ctx.stop_now();
        } else {
            // From a timer, so the handover comes after this callback's effects are carried out.
            ctx.set_global_timer(Duration::ZERO, TURN_START);
        }
    }

    /// A message is done with (its reply is in, or its connection is gone): one less in
    /// flight, and the turn ends with the last one once sending has stopped.
    fn settle(&mut self, ctx: &mut Context<'_>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if !self.sending && self.in_flight == 0 {
            self.end_turn(ctx);
        }
    }
}

/// The timer keys: the next turn starts; the turn's sending ends; its last replies are
/// given up on.
const TURN_START: u64 = 0;
const TURN_END: u64 = 1;
const DRAIN_LIMIT: u64 = 2;

/// What a connection of the reactor is to the load.
#[derive(Clone, Copy)]
enum Side {
    /// Client number `n`'s connection.
    Load(usize),
    /// stdin/stdout, under [`serve_stdio`].
    Control,
}

impl Handler for Turns {
    type Conn = Side;

    fn started(&mut self, ctx: &mut Context<'_>) {
        self.dial(ctx);
    }

    fn connected(&mut self, ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Side {
        let n = match info.origin {
            Origin::Outbound(n) => n as usize,
            _ => {
                self.stdio = Some(id);
                return Side::Control;
            }
        };
        self.conns[n / self.plan.clients as usize].push((id, n));
        self.up += 1;
        self.dial(ctx);
        if self.up == self.total() {
            match self.stdio {
                Some(stdio) => ctx.write_to(stdio, b"ready\n"),
                None => drop(ctx.set_global_timer(Duration::ZERO, TURN_START)),
            }
        }
        Side::Load(n)
    }

    fn data(&mut self, conn: &mut Side, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        let n = match *conn {
            Side::Load(n) => n,
            Side::Control => {
                // One turn per `go` line; a partial line waits for the rest.
                let lines = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let gos = data[..lines].split(|&b| b == b'\n').filter(|l| *l == b"go").count();
                for _ in 0..gos {
                    self.begin_turn(ctx);
                }
                return lines;
            }
        };
        let Some(e) = self.echoers.get_mut(n) else { return data.len() };
        let take = data.len().min(e.payload.len() - e.got);
        if !e.waiting || take < data.len() || data[..take] != e.payload[e.got..e.got + take] {
            self.errors += 1;
            ctx.abort();
            return data.len();
        }
        e.got += take;
        if e.got < e.payload.len() {
            return take;
        }
        e.got = 0;
        e.waiting = false;
        let now = ctx.now();
        let micros = now.saturating_duration_since(e.sent_at).as_micros() as u64;
        if self.sending {
            ctx.write(e.next(now));
        }
        self.msgs += 1;
        let _ = self.latency.record(micros.max(1));
        if !self.sending {
            self.settle(ctx);
        }
        take
    }

    fn global_timer(&mut self, ctx: &mut Context<'_>, key: u64) {
        match key {
            TURN_START => self.begin_turn(ctx),
            TURN_END => self.stop_sending(ctx),
            DRAIN_LIMIT => self.give_up(ctx),
            _ => {}
        }
    }

    fn closed(&mut self, conn: Side, ctx: &mut Context<'_>, id: ConnId, reason: CloseReason) {
        let n = match conn {
            Side::Load(n) => n,
            // Stdin ended: whoever sent the turns is done with us.
            Side::Control => return ctx.stop_now(),
        };
        match reason {
            // The end of the run, or our own abort of a wrong reply (counted then).
            CloseReason::Shutdown => return,
            CloseReason::Local => {}
            _ => self.errors += 1,
        }
        let server = n / self.plan.clients as usize;
        self.conns[server].retain(|&(c, _)| c != id);
        let waiting = self.echoers.get(n).is_some_and(|e| e.waiting);
        if waiting && server == self.active() {
            self.settle(ctx);
        }
    }

    fn connect_failed(&mut self, ctx: &mut Context<'_>, tag: u64, err: &io::Error) {
        // The first failure is the one to report; the stop abandons the connects after it.
        if self.failed.is_none() {
            self.failed = Some(io::Error::new(err.kind(), format!("connection {tag}: {err}")));
        }
        ctx.stop_now();
    }
}

/// A one-thread process's CPU time so far (or a thread's, given its id) in nanoseconds: the
/// first field of `schedstat`, time on a CPU, which leaves out what the hypervisor stole.
/// Every server benchmarked here runs one thread.
pub fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
