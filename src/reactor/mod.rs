//! The readiness loop: one `mio::Poll`, one `Slab` of sources, one timer heap.
//!
//! Each turn: wait for readiness (or the next timer), then for every event accept / read /
//! write until the kernel says `WouldBlock` or the per-event budget runs out, hand what was
//! read to the protocol, and carry out the effects it asked for. Sources cut off by a budget
//! go on a "still ready" list and are served next turn, because edge-triggered readiness will
//! not report them again. Nothing here sleeps or blocks: a delay is a timer, a wait is an event.

use crate::buffer::{OutBuf, write_now};
use crate::clock::{Clock, SystemClock};
use crate::handler::{CloseMode, ConnInfo, Context, Effect, Effects, Handler, Origin, TimerOwner, feed};
use crate::id::{ConnId, Generations, SIGNALS, WAKER};
use crate::net;
use crate::stats::{CloseReason, Stats};
use crate::stdio::Stdio;
use crate::timer::Timers;
use log::{debug, info, warn};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Registry, Waker};
use slab::Slab;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A [`Context`] borrowing only the fields it needs, so `self.handler` stays free to call.
macro_rules! ctx {
    ($r:ident, $current:expr) => {
        Context {
            now: $r.now,
            current: $current,
            reading: false,
            effects: &mut $r.effects,
            timers: &mut $r.timers,
            stats: &$r.stats,
        }
    };
}

/// How often a lingering close checks whether the peer has acknowledged everything.
const LINGER_CHECK: Duration = Duration::from_millis(20);

const NO_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));

mod accept;
mod close;
mod config;
mod conn;
mod connect;
mod files;
mod read;
mod recvfile;
mod sendfile;
mod throttle;
mod write;

pub use config::{Config, Handle};
use conn::*;

/// The reactor's own timers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Internal {
    Idle(ConnId),
    ResumeAccept(ConnId),
    Stats,
    Grace,
    /// Time to check on a lingering close (see `Reactor::close_flushed`); it ends by the
    /// deadline at the latest.
    Linger(ConnId, Instant),
}

/// A single-threaded event loop driving one [`Handler`] over any number of listeners,
/// connections (accepted or outbound) and UDP sockets.
pub struct Reactor<H: Handler> {
    poll: Poll,
    slab: Slab<Slot<H::Conn>>,
    generations: Generations,
    handler: H,
    config: Config,
    clock: Box<dyn Clock>,
    now: Instant,
    /// `now` as [`Millis`] since `epoch`, for connection timestamps (see [`Self::tick`]).
    now_ms: Millis,
    /// When the reactor started: connections keep their timestamps as [`Millis`] since then.
    epoch: Instant,
    timers: Timers<TimerOwner>,
    effects: Effects,
    spare_effects: Effects,
    scratch: Vec<u8>,
    still_ready: Vec<ConnId>,
    spare_ready: Vec<ConnId>,
    stats: Arc<Stats>,
    waker: Arc<Waker>,
    stop_flag: Arc<AtomicBool>,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    stopping: bool,
    live_conns: usize,
    fd_exhaustion_logged: bool,
    send_failures: throttle::Throttle,
}

impl<H: Handler> Reactor<H> {
    pub fn new(handler: H, config: Config) -> io::Result<Self> {
        Self::with_clock(handler, config, Box::new(SystemClock))
    }

    /// A reactor whose notion of "now" comes from `clock` (a [`crate::VirtualClock`] in tests).
    pub fn with_clock(handler: H, config: Config, clock: Box<dyn Clock>) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let now = clock.now();
        Ok(Reactor {
            scratch: vec![0; config.scratch_size.max(1)],
            poll,
            slab: Slab::new(),
            generations: Generations::default(),
            handler,
            config,
            clock,
            now,
            epoch: now,
            now_ms: 0,
            timers: Timers::new(),
            effects: Effects::default(),
            spare_effects: Effects::default(),
            still_ready: Vec::new(),
            spare_ready: Vec::new(),
            stats: Arc::new(Stats::default()),
            waker,
            stop_flag: Arc::new(AtomicBool::new(false)),
            signals: None,
            stopping: false,
            live_conns: 0,
            fd_exhaustion_logged: false,
            send_failures: throttle::Throttle::default(),
        })
    }

    pub fn handle(&self) -> Handle {
        Handle { waker: self.waker.clone(), stop: self.stop_flag.clone(), stats: self.stats.clone() }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }

    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Listens on `addr` (port 0 picks a free port) and returns the address really bound.
    pub fn listen(&mut self, addr: SocketAddr, backlog: i32) -> io::Result<SocketAddr> {
        self.add_listener(net::tcp_listener(addr, backlog)?)
    }

    /// Adopts an already bound, non-blocking listener.
    pub fn add_listener(&mut self, mut sock: TcpListener) -> io::Result<SocketAddr> {
        let addr = sock.local_addr()?;
        let entry = self.slab.vacant_entry();
        let id = ConnId::new(entry.key(), self.generations.next());
        self.poll.registry().register(&mut sock, id.token(), Interest::READABLE)?;
        entry.insert(Slot { id, kind: Kind::Listener(Box::new(Listener { sock, addr, paused: false })) });
        Ok(addr)
    }

    /// Binds a UDP socket; datagrams go to [`Handler::datagram`] with the returned id.
    pub fn bind_udp(&mut self, addr: SocketAddr) -> io::Result<(ConnId, SocketAddr)> {
        let mut sock = net::udp_socket(addr, self.config.udp_recv_buffer)?;
        let local = sock.local_addr()?;
        let entry = self.slab.vacant_entry();
        let id = ConnId::new(entry.key(), self.generations.next());
        self.poll.registry().register(&mut sock, id.token(), Interest::READABLE)?;
        entry.insert(Slot { id, kind: Kind::Udp(sock) });
        Ok((id, local))
    }

    /// Starts an outbound connect before (or while) the loop runs; see [`Context::connect`].
    pub fn connect(&mut self, addr: SocketAddr, tag: u64) {
        self.start_connect(addr, None, tag);
        self.apply_effects();
    }

    /// Adds stdin/stdout as one connection (`Origin::Stdio`): stdin's bytes go to
    /// [`Handler::data`], and what the handler writes to it goes to stdout.
    pub fn add_stdio(&mut self) -> io::Result<ConnId> {
        let entry = self.slab.vacant_entry();
        let id = ConnId::new(entry.key(), self.generations.next());
        let stdio = Stdio::open(self.poll.registry(), id.token())?;
        let pollable = stdio.in_pollable;
        entry.insert(Slot {
            id,
            kind: Kind::Conn(Box::new(Conn::new(Io::Stdio(Box::new(stdio)), None, 0, NO_ADDR, self.now_ms))),
        });
        self.live_conns += 1;
        self.stats.open.set(self.live_conns as u64);
        let info = ConnInfo { peer: NO_ADDR, local: NO_ADDR, origin: Origin::Stdio };
        self.bring_up(id, &info);
        self.apply_effects();
        if !pollable {
            self.still_ready.push(id);
        }
        Ok(id)
    }

    /// Stops gracefully on the first SIGINT or SIGTERM, and at once on the second.
    pub fn stop_on_signals(&mut self) -> io::Result<()> {
        let mut signals =
            signal_hook_mio::v1_0::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])?;
        self.poll.registry().register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Runs until a stop (from a [`Handle`], a signal or [`Context::stop`]) has finished.
    pub fn run(&mut self) -> io::Result<()> {
        self.tick();
        if let Some(every) = self.config.stats_interval {
            self.timers.set(self.now + every, TimerOwner::Reactor(Internal::Stats));
        }
        let mut ctx = ctx!(self, None);
        self.handler.started(&mut ctx);
        self.apply_effects();
        let mut events = Events::with_capacity(self.config.events_capacity);
        loop {
            // Read before swapped: a locked exchange every turn costs more than the whole
            // flag is worth, and a stop is rare.
            if self.stop_flag.load(Ordering::Acquire) && self.stop_flag.swap(false, Ordering::SeqCst) {
                self.begin_stop("stop requested", true);
            }
            if self.stopping && self.live_conns == 0 {
                break;
            }
            let timeout = if self.still_ready.is_empty() {
                self.timers.next_deadline().map(|d| d.saturating_duration_since(self.clock.now()))
            } else {
                Some(Duration::ZERO)
            };
            let polled = self.poll.poll(&mut events, timeout);
            self.stats.polls.add(1);
            self.tick();
            match polled {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            for (i, event) in events.iter().enumerate() {
                self.stats.events.add(1);
                // A long batch can take a while to serve: re-read the clock (a vDSO call, no
                // syscall) so a reply timed late in the batch is not stamped with the turn's
                // start. The first event uses the time just read after the poll.
                if i > 0 {
                    self.tick();
                }
                self.dispatch(event);
                self.apply_effects();
            }
            self.serve_still_ready();
            self.fire_timers();
        }
        info!("stopped: {}", self.stats);
        Ok(())
    }

    /// Reads the clock. Connections are stamped with `now_ms`, worked out here once per
    /// reading rather than at every read and write, and only when an idle timeout will
    /// read the stamps: at one message per turn its arithmetic was 7 % of the server's
    /// instructions (callgrind, BENCHMARKS.md).
    fn tick(&mut self) {
        self.now = self.clock.now();
        if self.config.idle_timeout.is_some() {
            self.now_ms = millis_since(self.epoch, self.now);
        }
    }

    fn dispatch(&mut self, event: &mio::event::Event) {
        let token = event.token();
        if token == WAKER {
            return; // the stop flag is read at the top of the loop
        }
        if token == SIGNALS {
            return self.on_signals();
        }
        let id = ConnId::from_token(token);
        let Some(slot) = self.slab.get(id.index()) else { return };
        if slot.id != id {
            debug!("stale event for {id} ignored");
            return;
        }
        debug!(
            "event {id}: readable={} writable={} read_closed={} error={}",
            event.is_readable(),
            event.is_writable(),
            event.is_read_closed(),
            event.is_error()
        );
        match Ready::of(&slot.kind) {
            Ready::Listener => self.accept_ready(id),
            Ready::Udp => self.recv_ready(id),
            Ready::Connecting => self.finish_connect(id),
            Ready::Conn => {
                if (event.is_read_closed() || event.is_error())
                    && let Some(c) = conn_mut(&mut self.slab, id)
                {
                    c.hup_seen = true;
                }
                if event.is_writable() {
                    self.flush(id);
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read_ready(id);
                }
            }
        }
    }

    fn serve_still_ready(&mut self) {
        if self.still_ready.is_empty() {
            return;
        }
        let mut ready = std::mem::replace(&mut self.still_ready, std::mem::take(&mut self.spare_ready));
        for id in ready.drain(..) {
            let ready = match self.slab.get(id.index()) {
                Some(slot) if slot.id == id => Ready::of(&slot.kind),
                _ => continue,
            };
            match ready {
                Ready::Listener => self.accept_ready(id),
                Ready::Udp => self.recv_ready(id),
                Ready::Connecting => {}
                Ready::Conn => {
                    self.flush_if_cut(id);
                    self.read_ready(id);
                }
            }
            self.apply_effects();
        }
        self.spare_ready = ready;
    }

    fn fire_timers(&mut self) {
        while let Some((_, owner)) = self.timers.pop_expired(self.now) {
            self.stats.timers_fired.add(1);
            match owner {
                TimerOwner::Conn(id, key) => self.with_conn(id, |h, conn, ctx| h.timer(conn, ctx, key)),
                TimerOwner::Global(key) => {
                    let mut ctx = ctx!(self, None);
                    self.handler.global_timer(&mut ctx, key);
                }
                TimerOwner::Reactor(what) => self.internal_timer(what),
            }
            self.apply_effects();
        }
    }

    fn internal_timer(&mut self, what: Internal) {
        match what {
            Internal::Idle(id) => {
                let (Some(idle), Some(c)) = (self.config.idle_timeout, conn_mut(&mut self.slab, id)) else {
                    return;
                };
                let due = self.epoch + Duration::from_millis(c.last_active) + idle;
                if due <= self.now {
                    info!("{} ({id}): idle for {idle:?}, closing", c.peer);
                    self.close_now(id, CloseReason::IdleTimeout);
                } else {
                    self.timers.set(due, TimerOwner::Reactor(Internal::Idle(id)));
                }
            }
            Internal::ResumeAccept(id) => {
                if let Some(Slot { id: sid, kind: Kind::Listener(l) }) = self.slab.get_mut(id.index())
                    && *sid == id
                {
                    l.paused = false;
                    self.still_ready.push(id);
                }
            }
            Internal::Stats => {
                info!("stats: {}", self.stats);
                if let Some(every) = self.config.stats_interval {
                    self.timers.set(self.now + every, TimerOwner::Reactor(Internal::Stats));
                }
            }
            Internal::Linger(id, deadline) => {
                let Some(Conn { io: Io::Tcp(stream), .. }) = conn_mut(&mut self.slab, id) else { return };
                if unacked_output(stream) == 0 || self.now >= deadline {
                    self.close_now(id, CloseReason::Local); // counted when the linger began
                } else {
                    let next = (self.now + LINGER_CHECK).min(deadline);
                    self.timers.set(next, TimerOwner::Reactor(Internal::Linger(id, deadline)));
                }
            }
            Internal::Grace => {
                let left: Vec<ConnId> = self.conn_ids();
                if !left.is_empty() {
                    warn!("grace period over: closing {} connections with output still queued", left.len());
                }
                for id in left {
                    self.close_now(id, CloseReason::Shutdown);
                }
            }
        }
    }

    fn conn_ids(&self) -> Vec<ConnId> {
        self.slab.iter().filter(|(_, s)| matches!(s.kind, Kind::Conn(_))).map(|(_, s)| s.id).collect()
    }

    fn on_signals(&mut self) {
        let Some(signals) = self.signals.as_mut() else { return };
        let got: Vec<i32> = signals.pending().collect();
        for sig in got {
            let name = if sig == signal_hook::consts::SIGINT { "SIGINT" } else { "SIGTERM" };
            if self.stopping {
                info!("{name} again: closing everything now");
                for id in self.conn_ids() {
                    self.close_now(id, CloseReason::Shutdown);
                }
            } else {
                self.begin_stop(name, true);
            }
        }
    }

    /// Closes the listeners and every connection: after its queued output (`flush`, for up
    /// to the grace period), or at once.
    fn begin_stop(&mut self, why: &str, flush: bool) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        if flush {
            info!(
                "stopping ({why}): closing listeners, flushing {} connections for up to {:?}",
                self.live_conns, self.config.grace
            );
        } else {
            info!("stopping ({why}): closing listeners and {} connections at once", self.live_conns);
        }
        let sources: Vec<usize> =
            self.slab.iter().filter(|(_, s)| !matches!(s.kind, Kind::Conn(_))).map(|(k, _)| k).collect();
        for key in sources {
            self.slab.remove(key);
        }
        let mut ctx = ctx!(self, None);
        self.handler.stopping(&mut ctx);
        self.apply_effects();
        for id in self.conn_ids() {
            if flush {
                self.request_close(id, CloseMode::Flush, CloseReason::Shutdown);
            } else {
                self.close_now(id, CloseReason::Shutdown);
            }
        }
        self.apply_effects();
        // Set even when nothing is left to flush: a connection a `closed` callback opens
        // during the stop is still cut when the grace period ends.
        self.timers.set(self.now + self.config.grace, TimerOwner::Reactor(Internal::Grace));
    }

    /// Runs a callback on one live connection's state. Does nothing for a stale id.
    fn with_conn(&mut self, id: ConnId, f: impl FnOnce(&mut H, &mut H::Conn, &mut Context<'_>)) {
        let Reactor { slab, handler, effects, timers, stats, now, .. } = self;
        let Some(state) = conn_mut(slab, id).and_then(|c| c.state.as_mut()) else { return };
        let mut ctx = Context { now: *now, current: Some(id), reading: false, effects, timers, stats };
        f(handler, state, &mut ctx);
    }
}
