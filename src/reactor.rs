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
        }
    }
}

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

/// Stops a running reactor from any thread, and reads its counters.
#[derive(Clone)]
pub struct Handle {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
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

enum Io {
    Tcp(TcpStream),
    Stdio(Stdio),
}

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Io::Tcp(s) => s.read(buf),
            Io::Stdio(s) => s.read(buf),
        }
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Io::Tcp(s) => s.write(buf),
            Io::Stdio(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Conn<C> {
    io: Io,
    /// `None` until an outbound connect completes.
    state: Option<C>,
    tag: u64,
    peer: SocketAddr,
    out: OutBuf,
    /// Input the protocol has not consumed yet (empty, and unallocated, most of the time).
    held: Vec<u8>,
    last_active: Instant,
    /// A close or half-close waiting for the output queue to drain.
    closing: Option<(CloseMode, CloseReason)>,
    connecting: bool,
    read_closed: bool,
    write_shut: bool,
    paused_backpressure: bool,
    paused_by_protocol: bool,
    writable_registered: bool,
    /// The kernel reported the peer's FIN or an error (RDHUP/HUP/ERR) on this socket. Its
    /// edge has been consumed, so no later event will announce it again: from now on a
    /// short read does not mean the socket is drained, and we read on until EOF, the error,
    /// or `WouldBlock`.
    hup_seen: bool,
    /// Closed as far as the protocol and the counters are concerned (our FIN is sent), but
    /// the socket stays open, discarding input, until the peer has all we sent: see
    /// `close_flushed`.
    lingering: bool,
}

impl<C> Conn<C> {
    fn new(io: Io, state: Option<C>, tag: u64, peer: SocketAddr, now: Instant) -> Self {
        Conn {
            io,
            state,
            tag,
            peer,
            out: OutBuf::default(),
            held: Vec::new(),
            last_active: now,
            closing: None,
            connecting: false,
            read_closed: false,
            write_shut: false,
            paused_backpressure: false,
            paused_by_protocol: false,
            writable_registered: false,
            hup_seen: false,
            lingering: false,
        }
    }

    fn may_read(&self) -> bool {
        !(self.connecting
            || self.read_closed
            || self.closing.is_some_and(|(m, _)| m != CloseMode::ShutdownWrite)
            || self.paused_backpressure
            || self.paused_by_protocol)
    }
}

struct Listener {
    sock: TcpListener,
    addr: SocketAddr,
    paused: bool,
}

enum Kind<C> {
    Listener(Listener),
    Conn(Box<Conn<C>>),
    Udp(UdpSocket),
}

/// Which kind of source an event is for, copied out so the slab is free again.
enum Ready {
    Listener,
    Udp,
    Connecting,
    Conn,
}

impl Ready {
    fn of<C>(kind: &Kind<C>) -> Ready {
        match kind {
            Kind::Listener(_) => Ready::Listener,
            Kind::Udp(_) => Ready::Udp,
            Kind::Conn(c) if c.connecting => Ready::Connecting,
            Kind::Conn(_) => Ready::Conn,
        }
    }
}

struct Slot<C> {
    id: ConnId,
    kind: Kind<C>,
}

fn conn_mut<C>(slab: &mut Slab<Slot<C>>, id: ConnId) -> Option<&mut Conn<C>> {
    match slab.get_mut(id.index()) {
        Some(Slot { id: sid, kind: Kind::Conn(c) }) if *sid == id => Some(c),
        _ => None,
    }
}

fn set_writable<C>(registry: &Registry, id: ConnId, c: &mut Conn<C>, want: bool) {
    if c.writable_registered == want {
        return;
    }
    let res = match &mut c.io {
        Io::Tcp(s) => {
            let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            registry.reregister(s, id.token(), interest)
        }
        Io::Stdio(s) => s.want_writable(registry, id.token(), want),
    };
    match res {
        Ok(()) => c.writable_registered = want,
        Err(e) => warn!("{id} ({}): changing interest failed: {e}", c.peer),
    }
}

/// Bytes the kernel still holds for the peer: not sent yet, or sent and not acknowledged.
#[cfg(target_os = "linux")]
fn unacked_output(stream: &TcpStream) -> usize {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (the same number as TIOCOUTQ) stores one int for a TCP socket.
    match unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) } {
        0 => n.max(0) as usize,
        _ => 1, // unknown: assume something is still on its way
    }
}

#[cfg(not(target_os = "linux"))]
fn unacked_output(_stream: &TcpStream) -> usize {
    1 // unknown here: assume something is still on its way
}

fn close_reason_for(e: &io::Error) -> CloseReason {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted => {
            CloseReason::Reset
        }
        _ => CloseReason::Error,
    }
}

/// A [`Context`] borrowing only the fields it needs, so `self.handler` stays free to call.
macro_rules! ctx {
    ($r:ident, $current:expr) => {
        Context {
            now: $r.now,
            current: $current,
            effects: &mut $r.effects,
            timers: &mut $r.timers,
            stats: &$r.stats,
        }
    };
}

/// How often a lingering close checks whether the peer has acknowledged everything.
const LINGER_CHECK: Duration = Duration::from_millis(20);

const NO_ADDR: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));

/// A single-threaded event loop driving one [`Handler`] over any number of listeners,
/// connections (accepted or outbound) and UDP sockets.
pub struct Reactor<H: Handler> {
    poll: Poll,
    events: Events,
    slab: Slab<Slot<H::Conn>>,
    generations: Generations,
    handler: H,
    config: Config,
    clock: Box<dyn Clock>,
    now: Instant,
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
            events: Events::with_capacity(config.events_capacity),
            scratch: vec![0; config.scratch_size.max(1)],
            poll,
            slab: Slab::new(),
            generations: Generations::default(),
            handler,
            config,
            clock,
            now,
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
        entry.insert(Slot { id, kind: Kind::Listener(Listener { sock, addr, paused: false }) });
        Ok(addr)
    }

    /// Binds a UDP socket; datagrams go to [`Handler::datagram`] with the returned id.
    pub fn bind_udp(&mut self, addr: SocketAddr) -> io::Result<(ConnId, SocketAddr)> {
        let mut sock = net::udp_socket(addr)?;
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
            kind: Kind::Conn(Box::new(Conn::new(Io::Stdio(stdio), None, 0, NO_ADDR, self.now))),
        });
        self.live_conns += 1;
        self.stats.open.set(self.live_conns as u64);
        let info = ConnInfo { peer: NO_ADDR, local: NO_ADDR, origin: Origin::Stdio };
        self.bring_up(id, &info);
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
        self.now = self.clock.now();
        if let Some(every) = self.config.stats_interval {
            self.timers.set(self.now + every, TimerOwner::Reactor(Internal::Stats));
        }
        loop {
            if self.stop_flag.swap(false, Ordering::SeqCst) {
                self.begin_stop("stop requested");
            }
            if self.stopping && self.live_conns == 0 {
                break;
            }
            let timeout = if self.still_ready.is_empty() {
                self.timers.next_deadline().map(|d| d.saturating_duration_since(self.clock.now()))
            } else {
                Some(Duration::ZERO)
            };
            let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
            let polled = self.poll.poll(&mut events, timeout);
            self.stats.polls.add(1);
            self.now = self.clock.now();
            match polled {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.events = events;
                    return Err(e);
                }
            }
            for event in events.iter() {
                self.stats.events.add(1);
                self.dispatch(event);
                self.apply_effects();
            }
            self.events = events;
            self.serve_still_ready();
            self.fire_timers();
        }
        info!("stopped: {}", self.stats);
        Ok(())
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
                Ready::Conn => self.read_ready(id),
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
                let due = c.last_active + idle;
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
                self.begin_stop(name);
            }
        }
    }

    fn begin_stop(&mut self, why: &str) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        info!(
            "stopping ({why}): closing listeners, flushing {} connections for up to {:?}",
            self.live_conns, self.config.grace
        );
        let sources: Vec<usize> =
            self.slab.iter().filter(|(_, s)| !matches!(s.kind, Kind::Conn(_))).map(|(k, _)| k).collect();
        for key in sources {
            self.slab.remove(key);
        }
        let mut ctx = ctx!(self, None);
        self.handler.stopping(&mut ctx);
        self.apply_effects();
        for id in self.conn_ids() {
            self.request_close(id, CloseMode::Flush, CloseReason::Shutdown);
        }
        self.apply_effects();
        self.timers.set(self.now + self.config.grace, TimerOwner::Reactor(Internal::Grace));
    }

    /// Runs a callback on one live connection's state. Does nothing for a stale id.
    fn with_conn(&mut self, id: ConnId, f: impl FnOnce(&mut H, &mut H::Conn, &mut Context<'_>)) {
        let Reactor { slab, handler, effects, timers, stats, now, .. } = self;
        let Some(state) = conn_mut(slab, id).and_then(|c| c.state.as_mut()) else { return };
        let mut ctx = Context { now: *now, current: Some(id), effects, timers, stats };
        f(handler, state, &mut ctx);
    }

    // ---- accepting ---------------------------------------------------------------------

    fn accept_ready(&mut self, lid: ConnId) {
        for _ in 0..self.config.accept_budget {
            let Some(Slot { kind: Kind::Listener(l), .. }) = self.slab.get_mut(lid.index()) else { return };
            if l.paused || self.stopping {
                return;
            }
            match l.sock.accept() {
                Ok((stream, peer)) => {
                    self.fd_exhaustion_logged = false;
                    self.stats.accepted.add(1);
                    if self.config.max_conns.is_some_and(|max| self.live_conns >= max) {
                        info!("{peer}: refused, {} connections open (max-conns)", self.live_conns);
                        self.stats.count_close(CloseReason::MaxConns);
                        drop(stream);
                        continue;
                    }
                    self.add_accepted(lid, stream, peer);
                    self.apply_effects();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted) => {}
                Err(e) => {
                    let addr = l.addr;
                    l.paused = true;
                    if net::is_fd_exhaustion(&e) {
                        self.stats.accept_fd_exhausted.add(1);
                        if !self.fd_exhaustion_logged {
                            self.fd_exhaustion_logged = true;
                            warn!(
                                "accept on {addr}: {e}; pausing accepts for {:?} and serving the {} open connections",
                                self.config.accept_pause, self.live_conns
                            );
                        }
                    } else {
                        warn!("accept on {addr}: {e}; pausing accepts for {:?}", self.config.accept_pause);
                    }
                    self.timers.set(
                        self.now + self.config.accept_pause,
                        TimerOwner::Reactor(Internal::ResumeAccept(lid)),
                    );
                    return;
                }
            }
        }
        self.still_ready.push(lid);
    }

    fn add_accepted(&mut self, lid: ConnId, mut stream: TcpStream, peer: SocketAddr) {
        if self.config.nodelay {
            let _ = stream.set_nodelay(true);
        }
        let local = stream.local_addr().unwrap_or(NO_ADDR);
        let entry = self.slab.vacant_entry();
        let id = ConnId::new(entry.key(), self.generations.next());
        if let Err(e) = self.poll.registry().register(&mut stream, id.token(), Interest::READABLE) {
            warn!("{peer}: cannot register accepted connection: {e}");
            self.stats.count_close(CloseReason::Error);
            return;
        }
        entry.insert(Slot {
            id,
            kind: Kind::Conn(Box::new(Conn::new(Io::Tcp(stream), None, 0, peer, self.now))),
        });
        self.live_conns += 1;
        self.stats.open.set(self.live_conns as u64);
        info!("{peer} ({id}): connected");
        self.bring_up(id, &ConnInfo { peer, local, origin: Origin::Accepted(lid) });
    }

    /// Creates the protocol state of a connection that just came up.
    fn bring_up(&mut self, id: ConnId, info: &ConnInfo) {
        if let Some(idle) = self.config.idle_timeout {
            self.timers.set(self.now + idle, TimerOwner::Reactor(Internal::Idle(id)));
        }
        let Reactor { slab, handler, effects, timers, stats, now, .. } = self;
        let mut ctx = Context { now: *now, current: Some(id), effects, timers, stats };
        let state = handler.connected(&mut ctx, id, info);
        if let Some(c) = conn_mut(slab, id) {
            c.state = Some(state);
        }
    }

    // ---- connecting --------------------------------------------------------------------

    fn start_connect(&mut self, addr: SocketAddr, from: Option<SocketAddr>, tag: u64) {
        let mut stream = match net::tcp_connect(addr, from) {
            Ok(s) => s,
            Err(e) => return self.connect_failed(tag, addr, e),
        };
        let entry = self.slab.vacant_entry();
        let id = ConnId::new(entry.key(), self.generations.next());
        if let Err(e) =
            self.poll.registry().register(&mut stream, id.token(), Interest::READABLE | Interest::WRITABLE)
        {
            return self.connect_failed(tag, addr, e);
        }
        let mut conn = Conn::new(Io::Tcp(stream), None, tag, addr, self.now);
        conn.connecting = true;
        conn.writable_registered = true;
        entry.insert(Slot { id, kind: Kind::Conn(Box::new(conn)) });
        self.live_conns += 1;
        self.stats.open.set(self.live_conns as u64);
        debug!("{id}: connecting to {addr}");
    }

    fn connect_failed(&mut self, tag: u64, addr: SocketAddr, e: io::Error) {
        debug!("connect to {addr} failed: {e}");
        self.stats.count_close(CloseReason::ConnectFailed);
        let mut ctx = ctx!(self, None);
        self.handler.connect_failed(&mut ctx, tag, &e);
    }

    /// A connecting socket became writable (or failed): find out which.
    fn finish_connect(&mut self, id: ConnId) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        let Io::Tcp(stream) = &c.io else { return };
        let outcome = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match stream.peer_addr() {
                Ok(peer) => Ok(peer),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return, // not yet
                Err(e) => Err(e),
            },
        };
        let (tag, addr) = (c.tag, c.peer);
        match outcome {
            Err(e) => {
                self.remove(id);
                self.connect_failed(tag, addr, e);
            }
            Ok(peer) => {
                c.connecting = false;
                if self.config.nodelay {
                    let _ = stream.set_nodelay(true);
                }
                let local = stream.local_addr().unwrap_or(NO_ADDR);
                set_writable(self.poll.registry(), id, c, false);
                self.stats.connected.add(1);
                debug!("{id}: connected to {peer}");
                self.bring_up(id, &ConnInfo { peer, local, origin: Origin::Outbound(tag) });
                self.still_ready.push(id);
            }
        }
    }

    // ---- reading -----------------------------------------------------------------------

    fn read_ready(&mut self, id: ConnId) {
        let mut budget = self.config.read_budget;
        loop {
            let high_water = self.config.high_water;
            let Some(c) = conn_mut(&mut self.slab, id) else { return };
            if c.lingering {
                if !self.discard_input(id) {
                    self.close_now(id, CloseReason::PeerClosed); // counted when the linger began
                }
                return;
            }
            if !c.may_read() {
                return;
            }
            // Never read more than the output queue has room for: an echo of this read then
            // cannot push the queue past the high-water mark.
            let room = high_water.saturating_sub(c.out.len());
            if room == 0 {
                debug!("{id}: {} bytes queued, not reading until they drain", c.out.len());
                c.paused_backpressure = true;
                return;
            }
            let want = room.min(self.scratch.len()).min(budget);
            let hup_seen = c.hup_seen;
            match c.io.read(&mut self.scratch[..want]) {
                Ok(0) => {
                    debug!("{id}: end of input");
                    c.read_closed = true;
                    self.with_conn(id, |h, conn, ctx| h.eof(conn, ctx));
                    return;
                }
                Ok(n) => {
                    c.last_active = self.now;
                    let pollable = !matches!(&c.io, Io::Stdio(s) if !s.in_pollable);
                    self.stats.bytes_in.add(n as u64);
                    debug!("{id}: read {n} bytes");
                    self.deliver(id, n);
                    self.apply_effects();
                    budget -= n;
                    if budget == 0 || !pollable {
                        self.still_ready.push(id);
                        return;
                    }
                    if n < want && !hup_seen {
                        // A short read emptied the socket; new bytes will raise a new edge.
                        // Not so once the peer's FIN (or an error) has been reported: it
                        // arrived with these bytes, in the same edge, and only another read
                        // will surface it. Without this check a client that sends and
                        // half-closes at once never gets its EOF handled.
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("{id} ({}): read failed: {e}", c.peer);
                    self.close_now(id, close_reason_for(&e));
                    return;
                }
            }
        }
    }

    /// Hands `scratch[..n]` to the protocol.
    fn deliver(&mut self, id: ConnId, n: usize) {
        let Reactor { slab, handler, effects, timers, stats, now, scratch, config, .. } = self;
        let Some(c) = conn_mut(slab, id) else { return };
        let Some(state) = c.state.as_mut() else { return };
        let mut ctx = Context { now: *now, current: Some(id), effects, timers, stats };
        feed(handler, state, &mut ctx, &mut c.held, &scratch[..n]);
        if c.held.len() > config.max_input {
            warn!(
                "{} ({id}): {} bytes of input not consumed (limit {}), closing",
                c.peer,
                c.held.len(),
                config.max_input
            );
            self.close_now(id, CloseReason::InputOverflow);
        }
    }

    fn recv_ready(&mut self, id: ConnId) {
        for _ in 0..self.config.accept_budget {
            let Some(Slot { kind: Kind::Udp(sock), .. }) = self.slab.get(id.index()) else { return };
            match sock.recv_from(&mut self.scratch) {
                Ok((n, from)) => {
                    self.stats.datagrams_in.add(1);
                    self.stats.bytes_in.add(n as u64);
                    debug!("{id}: datagram of {n} bytes from {from}");
                    let Reactor { handler, effects, timers, stats, now, scratch, .. } = self;
                    let mut ctx = Context { now: *now, current: None, effects, timers, stats };
                    handler.datagram(&mut ctx, id, from, &scratch[..n]);
                    self.apply_effects();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // An ICMP error for an earlier send surfaces here; it is about that send,
                // not about this socket, which keeps working.
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::Interrupted) =>
                {
                    debug!("{id}: {e}")
                }
                Err(e) => {
                    warn!("{id}: receive failed: {e}");
                    return;
                }
            }
        }
        self.still_ready.push(id);
    }

    // ---- writing -----------------------------------------------------------------------

    /// Carries out the effects the handler asked for, including those asked for by
    /// callbacks that these effects trigger (a close calls `closed`, which may write).
    fn apply_effects(&mut self) {
        while !self.effects.is_empty() {
            let mut batch = std::mem::replace(&mut self.effects, std::mem::take(&mut self.spare_effects));
            for effect in batch.list.drain(..) {
                match effect {
                    Effect::Write { to, start, end } => self.write(to, &batch.bytes[start..end]),
                    Effect::SendTo { sock, to, start, end } => {
                        self.send_to(sock, to, &batch.bytes[start..end])
                    }
                    Effect::Close { id, mode } => {
                        let read_closed = conn_mut(&mut self.slab, id).is_some_and(|c| c.read_closed);
                        let reason = if read_closed { CloseReason::PeerClosed } else { CloseReason::Local };
                        self.request_close(id, mode, reason);
                    }
                    Effect::Connect { addr, from, tag } => self.start_connect(addr, from, tag),
                    Effect::PauseReading(id) => {
                        if let Some(c) = conn_mut(&mut self.slab, id) {
                            c.paused_by_protocol = true;
                        }
                    }
                    Effect::ResumeReading(id) => {
                        if let Some(c) = conn_mut(&mut self.slab, id)
                            && c.paused_by_protocol
                        {
                            c.paused_by_protocol = false;
                            self.still_ready.push(id);
                        }
                    }
                    Effect::Stop => self.begin_stop("the protocol asked"),
                }
            }
            batch.bytes.clear();
            if self.effects.is_empty() {
                self.effects = batch;
            } else {
                self.spare_effects = batch;
            }
        }
    }

    /// Write first, queue the rest: most writes never touch the output queue or epoll.
    fn write(&mut self, id: ConnId, bytes: &[u8]) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.write_shut || c.closing.is_some() {
            debug!("{id}: {} bytes written after close was asked for: dropped", bytes.len());
            return;
        }
        let mut sent = 0;
        if !c.connecting && c.out.is_empty() {
            match write_now(&mut c.io, bytes) {
                Ok(n) => sent = n,
                Err(e) => {
                    debug!("{id} ({}): write failed: {e}", c.peer);
                    self.close_now(id, close_reason_for(&e));
                    return;
                }
            }
            self.stats.bytes_out.add(sent as u64);
            if sent > 0 {
                c.last_active = self.now;
                debug!("{id}: wrote {sent} bytes");
            }
        }
        if sent < bytes.len() {
            let before = c.out.len();
            c.out.push(&bytes[sent..]);
            self.stats.pending_out.add((bytes.len() - sent) as u64);
            self.stats.peak_conn_pending_out.set_max(c.out.len() as u64);
            set_writable(self.poll.registry(), id, c, true);
            if before <= self.config.high_water && c.out.len() > self.config.high_water {
                let pending = c.out.len();
                self.with_conn(id, |h, conn, ctx| h.backlogged(conn, ctx, pending));
            }
        }
    }

    fn send_to(&mut self, sock: ConnId, to: SocketAddr, bytes: &[u8]) {
        let Some(Slot { id, kind: Kind::Udp(s) }) = self.slab.get(sock.index()) else { return };
        if *id != sock {
            return;
        }
        match s.send_to(bytes, to) {
            Ok(n) => {
                self.stats.datagrams_out.add(1);
                self.stats.bytes_out.add(n as u64);
            }
            Err(e) => {
                self.stats.datagrams_dropped.add(1);
                debug!("{sock}: datagram of {} bytes to {to} dropped: {e}", bytes.len());
            }
        }
    }

    /// Writable: send the queue; when it empties, finish any pending close and resume reading.
    fn flush(&mut self, id: ConnId) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.out.is_empty() {
            set_writable(self.poll.registry(), id, c, false);
            return;
        }
        let before = c.out.len();
        let result = c.out.flush_to(&mut c.io);
        let sent = before - c.out.len();
        self.stats.bytes_out.add(sent as u64);
        self.stats.pending_out.set(self.stats.pending_out.get().saturating_sub(sent as u64));
        if sent > 0 {
            c.last_active = self.now;
            debug!("{id}: flushed {sent} bytes, {} still queued", c.out.len());
        }
        if let Err(e) = result {
            debug!("{id} ({}): write failed: {e}", c.peer);
            return self.close_now(id, close_reason_for(&e));
        }
        if c.paused_backpressure && c.out.len() <= self.config.high_water / 2 {
            c.paused_backpressure = false;
            self.still_ready.push(id);
        }
        if !c.out.is_empty() {
            return;
        }
        set_writable(self.poll.registry(), id, c, false);
        match c.closing {
            Some((CloseMode::ShutdownWrite, _)) => {
                c.closing = None;
                self.shutdown_write(id);
            }
            Some((_, reason)) => self.close_flushed(id, reason),
            None => self.with_conn(id, |h, conn, ctx| h.drained(conn, ctx)),
        }
    }

    // ---- closing -----------------------------------------------------------------------

    fn request_close(&mut self, id: ConnId, mode: CloseMode, reason: CloseReason) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.lingering {
            // Already closed; only an abort (or a second signal) cuts the linger short.
            if mode == CloseMode::Abort {
                self.close_now(id, reason);
            }
            return;
        }
        if mode == CloseMode::Abort {
            return self.close_now(id, reason);
        }
        if mode == CloseMode::Flush && c.out.is_empty() {
            return self.close_flushed(id, reason);
        }
        if mode == CloseMode::ShutdownWrite && c.out.is_empty() && !c.connecting {
            return self.shutdown_write(id);
        }
        // A full close outranks a pending half-close.
        if c.closing.is_none_or(|(m, _)| m == CloseMode::ShutdownWrite) {
            c.closing = Some((mode, reason));
        }
    }

    fn shutdown_write(&mut self, id: ConnId) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.write_shut {
            return;
        }
        c.write_shut = true;
        if let Io::Tcp(s) = &c.io
            && let Err(e) = s.shutdown(Shutdown::Write)
        {
            debug!("{id}: shutdown failed: {e}");
        }
        debug!("{id}: write side shut down");
        if c.read_closed {
            self.close_now(id, CloseReason::PeerClosed);
        }
    }

    /// Removes a source from the slab (dropping a socket deregisters it from epoll).
    fn remove(&mut self, id: ConnId) -> Option<Kind<H::Conn>> {
        match self.slab.get(id.index()) {
            Some(slot) if slot.id == id => {}
            _ => return None,
        }
        let mut kind = self.slab.remove(id.index()).kind;
        if let Kind::Conn(c) = &mut kind {
            self.live_conns -= 1;
            self.stats.open.set(self.live_conns as u64);
            self.stats.pending_out.set(self.stats.pending_out.get().saturating_sub(c.out.len() as u64));
            if let Io::Stdio(s) = &mut c.io {
                s.close(self.poll.registry());
            }
        }
        Some(kind)
    }

    /// A graceful close (everything queued has been handed to the kernel).
    ///
    /// Why not just drop the socket: if input is unread when we `close()`, or arrives after
    /// it, the kernel answers with RST and throws away the output it accepted but has not
    /// delivered yet, so the peer loses the tail of what we "flushed" (a graceful stop under
    /// a client that was still sending lost megabytes this way). So unless the peer has
    /// closed already, we read and drop its pending input, and if the kernel still holds
    /// output the peer has not acknowledged, we do a lingering close: send our FIN
    /// (`shutdown(Write)`), count the close and tell the protocol now, and keep discarding
    /// input until the peer has acknowledged everything including the FIN (checked every
    /// `LINGER_CHECK`; Linux only, elsewhere we wait for the peer's FIN), the peer's FIN, an
    /// error, or `config.grace`. Meanwhile the socket stays in the slab and in `open` (it
    /// still holds a descriptor). A peer that has everything is closed at once, as before.
    /// Costs a `read` and an `ioctl` per graceful close, nothing per event.
    fn close_flushed(&mut self, id: ConnId, reason: CloseReason) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.read_closed || c.connecting || !matches!(c.io, Io::Tcp(_)) {
            return self.close_now(id, reason);
        }
        if !self.discard_input(id) {
            return self.close_now(id, reason);
        }
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        let Io::Tcp(stream) = &c.io else { return };
        if unacked_output(stream) == 0 {
            return self.close_now(id, reason);
        }
        if !c.write_shut
            && let Err(e) = stream.shutdown(Shutdown::Write)
        {
            debug!("{id}: shutdown failed: {e}");
            return self.close_now(id, reason);
        }
        c.write_shut = true;
        c.closing = None;
        c.lingering = true;
        let state = c.state.take();
        info!("{} ({id}): closed, {reason} (discarding its input until it closes too)", c.peer);
        self.stats.count_close(reason);
        let deadline = self.now + self.config.grace;
        let first = (self.now + LINGER_CHECK).min(deadline);
        self.timers.set(first, TimerOwner::Reactor(Internal::Linger(id, deadline)));
        if let Some(state) = state {
            let mut ctx = ctx!(self, Some(id));
            self.handler.closed(state, &mut ctx, id, reason);
        }
    }

    /// Reads and drops input until `WouldBlock` or the read budget (then the connection goes
    /// on the still-ready list). Returns false at EOF or on an error.
    fn discard_input(&mut self, id: ConnId) -> bool {
        let mut dropped = 0;
        while let Some(c) = conn_mut(&mut self.slab, id) {
            let want = self.scratch.len().min(self.config.read_budget - dropped);
            match c.io.read(&mut self.scratch[..want]) {
                Ok(0) => return false,
                Ok(n) => {
                    self.stats.bytes_in.add(n as u64);
                    dropped += n;
                    if dropped == self.config.read_budget {
                        self.still_ready.push(id);
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("{id}: read failed: {e}");
                    return false;
                }
            }
        }
        true
    }

    fn close_now(&mut self, id: ConnId, reason: CloseReason) {
        let Some(Kind::Conn(c)) = self.remove(id) else { return };
        if c.lingering {
            // Counted, logged and reported when the linger began.
            debug!("{id}: lingering close done");
            return;
        }
        self.stats.count_close(reason);
        if c.state.is_some() && !matches!(c.io, Io::Stdio(_)) {
            info!("{} ({id}): closed, {reason}", c.peer);
        }
        match c.state {
            Some(state) => {
                let mut ctx = ctx!(self, Some(id));
                self.handler.closed(state, &mut ctx, id, reason);
            }
            None if c.connecting => {
                let e = io::Error::other(format!("connect abandoned: {reason}"));
                let mut ctx = ctx!(self, None);
                self.handler.connect_failed(&mut ctx, c.tag, &e);
            }
            None => {}
        }
    }
}
