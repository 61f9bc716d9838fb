//! A socket-free transport for testing protocols: bytes in, bytes out, a virtual clock.
//!
//! It plays the reactor's part for a [`Handler`] (like Twisted's `StringTransport` or
//! Netty's `EmbeddedChannel`): it calls the same callbacks, splits input the same way and
//! carries out the same effects, except that writes land in a per-connection `Vec` and
//! time moves only when the test calls [`TestTransport::advance`].
//!
//! ```
//! use sockloop::{protocols::echo::Echo, testing::TestTransport};
//! let mut t = TestTransport::new(Echo);
//! let c = t.accept();
//! t.feed(c, b"hello");
//! assert_eq!(t.take_output(c), b"hello");
//! ```

use crate::handler::{CloseMode, ConnInfo, Context, Effect, Effects, Handler, Origin, TimerOwner, feed};
use crate::id::{ConnId, Generations};
use crate::stats::{CloseReason, Stats};
use crate::timer::Timers;
use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::time::{Duration, Instant};

struct TestConn<C> {
    state: Option<C>,
    held: Vec<u8>,
    output: Vec<u8>,
    read_closed: bool,
    write_shut: bool,
    paused: bool,
    closed: Option<CloseReason>,
    files: Vec<SentFile>,
    /// A [`Context::recv_file`] range being filled: the file, the next offset, bytes left.
    receiving: Option<(Rc<File>, u64, u64)>,
}

/// A file range the handler queued with [`Context::send_file`]. Its bytes are also read
/// and appended to the connection's output, in order with the writes around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentFile {
    pub offset: u64,
    pub len: u64,
}

/// A datagram the handler sent with [`Context::send_to`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentDatagram {
    pub sock: ConnId,
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

pub struct TestTransport<H: Handler> {
    handler: H,
    now: Instant,
    timers: Timers<TimerOwner>,
    effects: Effects,
    stats: Stats,
    conns: BTreeMap<ConnId, TestConn<H::Conn>>,
    next_index: usize,
    generations: Generations,
    datagrams: Vec<SentDatagram>,
    connects: Vec<(SocketAddr, u64)>,
    stop_requested: bool,
    next_port: u16,
}

macro_rules! ctx {
    ($t:ident, $current:expr) => {
        Context {
            now: $t.now,
            current: $current,
            reading: false,
            effects: &mut $t.effects,
            timers: &mut $t.timers,
            stats: &$t.stats,
        }
    };
}

impl<H: Handler> TestTransport<H> {
    pub fn new(handler: H) -> Self {
        TestTransport {
            handler,
            now: Instant::now(),
            timers: Timers::new(),
            effects: Effects::default(),
            stats: Stats::default(),
            conns: BTreeMap::new(),
            next_index: 0,
            generations: Generations::default(),
            datagrams: Vec::new(),
            connects: Vec::new(),
            stop_requested: false,
            next_port: 40000,
        }
    }

    pub fn handler(&self) -> &H {
        &self.handler
    }

    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    fn new_id(&mut self) -> ConnId {
        self.next_index += 1;
        ConnId::new(self.next_index, self.generations.next())
    }

    /// Calls [`Handler::started`], as the reactor does before its first poll.
    pub fn start(&mut self) {
        let mut ctx = ctx!(self, None);
        self.handler.started(&mut ctx);
        self.apply_effects();
    }

    /// A client connects from a fresh loopback port; returns its id.
    pub fn accept(&mut self) -> ConnId {
        self.next_port += 1;
        self.accept_from(SocketAddr::from(([127, 0, 0, 1], self.next_port)))
    }

    pub fn accept_from(&mut self, peer: SocketAddr) -> ConnId {
        let listener = ConnId::new(0, 0);
        self.open(ConnInfo {
            peer,
            local: SocketAddr::from(([127, 0, 0, 1], 7000)),
            origin: Origin::Accepted(listener),
        })
    }

    /// Completes an outbound connect the handler asked for (see [`Self::take_connects`]).
    pub fn complete_connect(&mut self, tag: u64, peer: SocketAddr) -> ConnId {
        self.open(ConnInfo {
            peer,
            local: SocketAddr::from(([127, 0, 0, 1], 50000)),
            origin: Origin::Outbound(tag),
        })
    }

    /// Fails an outbound connect the handler asked for, as a refused or timed-out connect would.
    pub fn fail_connect(&mut self, tag: u64, err: &std::io::Error) {
        self.stats.count_close(CloseReason::ConnectFailed);
        let mut ctx = ctx!(self, None);
        self.handler.connect_failed(&mut ctx, tag, err);
        self.apply_effects();
    }

    /// Opens the stdin/stdout "connection" an interactive client uses.
    pub fn open_stdio(&mut self) -> ConnId {
        let none = SocketAddr::from(([0, 0, 0, 0], 0));
        self.open(ConnInfo { peer: none, local: none, origin: Origin::Stdio })
    }

    pub fn open(&mut self, info: ConnInfo) -> ConnId {
        let id = self.new_id();
        self.conns.insert(
            id,
            TestConn {
                state: None,
                held: Vec::new(),
                output: Vec::new(),
                read_closed: false,
                write_shut: false,
                paused: false,
                closed: None,
                files: Vec::new(),
                receiving: None,
            },
        );
        let mut ctx = ctx!(self, Some(id));
        let state = self.handler.connected(&mut ctx, id, &info);
        if let Some(c) = self.conns.get_mut(&id) {
            c.state = Some(state);
        }
        self.apply_effects();
        id
    }

    /// Delivers bytes as one read. Bytes for a closed connection are ignored. While a
    /// [`Context::recv_file`] range is open, its bytes go to the file, as in the reactor.
    pub fn feed(&mut self, id: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        if c.read_closed {
            return;
        }
        if c.receiving.is_some() {
            let rest = self.receive_to_file(id, bytes);
            if !rest.is_empty() {
                self.feed(id, rest);
            }
            return;
        }
        let Some(state) = c.state.as_mut() else { return };
        let mut ctx = Context {
            now: self.now,
            current: Some(id),
            reading: true,
            effects: &mut self.effects,
            timers: &mut self.timers,
            stats: &self.stats,
        };
        feed(&mut self.handler, state, &mut ctx, &mut c.held, bytes);
        self.apply_effects();
    }

    /// The peer half-closes. As in the reactor, the input the handler left unconsumed
    /// ([`Self::held`]) is handed to [`Handler::eof`] and then gone.
    pub fn eof(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        let Some(state) = c.state.as_mut() else { return };
        if c.read_closed {
            return; // a socket reports its end once
        }
        c.read_closed = true;
        let rest = std::mem::take(&mut c.held);
        let mut ctx = ctx!(self, Some(id));
        self.handler.eof(state, &mut ctx, &rest);
        self.apply_effects();
    }

    /// The peer resets the connection.
    pub fn reset(&mut self, id: ConnId) {
        self.close(id, CloseReason::Reset);
        self.apply_effects();
    }

    /// Moves the virtual clock, firing due timers in deadline order at their own times.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(deadline) = self.timers.next_deadline().filter(|d| *d <= target) {
            self.now = self.now.max(deadline);
            while let Some((_, owner)) = self.timers.pop_expired(self.now) {
                match owner {
                    TimerOwner::Conn(id, key) => {
                        if let Some(state) = self.conns.get_mut(&id).and_then(|c| c.state.as_mut()) {
                            let mut ctx = ctx!(self, Some(id));
                            self.handler.timer(state, &mut ctx, key);
                        }
                    }
                    TimerOwner::Global(key) => {
                        let mut ctx = ctx!(self, None);
                        self.handler.global_timer(&mut ctx, key);
                    }
                    TimerOwner::Reactor(_) => {}
                }
                self.apply_effects();
            }
        }
        self.now = target;
    }

    /// A datagram arrives on UDP socket `sock` (any id the test picks).
    pub fn datagram(&mut self, sock: ConnId, from: SocketAddr, bytes: &[u8]) {
        let mut ctx = ctx!(self, None);
        self.handler.datagram(&mut ctx, sock, from, bytes);
        self.apply_effects();
    }

    /// A UDP socket id for [`Self::datagram`].
    pub fn udp_socket(&mut self) -> ConnId {
        self.new_id()
    }

    /// Begins a graceful stop as the reactor would: `stopping`, then every connection closes.
    pub fn stop(&mut self) {
        let mut ctx = ctx!(self, None);
        self.handler.stopping(&mut ctx);
        self.apply_effects();
        let open: Vec<ConnId> =
            self.conns.iter().filter(|(_, c)| c.closed.is_none()).map(|(id, _)| *id).collect();
        for id in open {
            self.close(id, CloseReason::Shutdown);
        }
        self.apply_effects();
    }

    pub fn output(&self, id: ConnId) -> &[u8] {
        self.conns.get(&id).map(|c| c.output.as_slice()).unwrap_or(&[])
    }

    pub fn take_output(&mut self, id: ConnId) -> Vec<u8> {
        self.conns.get_mut(&id).map(|c| std::mem::take(&mut c.output)).unwrap_or_default()
    }

    /// Why the connection closed, or `None` while it is open.
    pub fn closed(&self, id: ConnId) -> Option<CloseReason> {
        self.conns.get(&id).and_then(|c| c.closed)
    }

    pub fn is_write_shut(&self, id: ConnId) -> bool {
        self.conns.get(&id).is_some_and(|c| c.write_shut)
    }

    pub fn is_paused(&self, id: ConnId) -> bool {
        self.conns.get(&id).is_some_and(|c| c.paused)
    }

    /// Input the protocol has not consumed yet.
    pub fn held(&self, id: ConnId) -> &[u8] {
        self.conns.get(&id).map(|c| c.held.as_slice()).unwrap_or(&[])
    }

    pub fn state(&self, id: ConnId) -> Option<&H::Conn> {
        self.conns.get(&id).and_then(|c| c.state.as_ref())
    }

    /// The file ranges sent to a connection so far.
    pub fn file_sends(&self, id: ConnId) -> &[SentFile] {
        self.conns.get(&id).map(|c| c.files.as_slice()).unwrap_or(&[])
    }

    pub fn take_datagrams(&mut self) -> Vec<SentDatagram> {
        std::mem::take(&mut self.datagrams)
    }

    pub fn take_connects(&mut self) -> Vec<(SocketAddr, u64)> {
        std::mem::take(&mut self.connects)
    }

    pub fn stop_requested(&self) -> bool {
        self.stop_requested
    }

    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    fn close(&mut self, id: ConnId, reason: CloseReason) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        if c.closed.is_some() {
            return;
        }
        c.closed = Some(reason);
        self.stats.count_close(reason);
        if let Some(state) = c.state.take() {
            let mut ctx = ctx!(self, Some(id));
            self.handler.closed(state, &mut ctx, id, reason);
        }
    }

    /// The socket takes the whole range at once: its bytes join the output, then `drained`
    /// fires, as the reactor's would. A file shorter than the range closes the connection
    /// with an error, as in the reactor. (Test files are small; the range is read whole.)
    fn send_file(&mut self, id: ConnId, file: &File, offset: u64, len: u64) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        if c.closed.is_some() || c.write_shut {
            return;
        }
        c.files.push(SentFile { offset, len });
        let mut bytes = vec![0; usize::try_from(len).unwrap_or(usize::MAX)];
        if file.read_exact_at(&mut bytes, offset).is_err() {
            self.close(id, CloseReason::Error);
            return;
        }
        c.output.extend_from_slice(&bytes);
        let Some(state) = c.state.as_mut() else { return };
        let mut ctx = ctx!(self, Some(id));
        self.handler.drained(state, &mut ctx);
    }

    /// Stores the start of `bytes` in the open file range; returns what is left over.
    fn receive_to_file<'b>(&mut self, id: ConnId, bytes: &'b [u8]) -> &'b [u8] {
        let Some(c) = self.conns.get_mut(&id) else { return &[] };
        let Some((file, offset, remaining)) = c.receiving.as_mut() else { return bytes };
        let take = bytes.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
        let got = file.write_all_at(&bytes[..take], *offset).map(|()| take as u64);
        *offset += take as u64;
        *remaining -= take as u64;
        if *remaining == 0 || got.is_err() {
            c.receiving = None;
        }
        let failed = got.is_err();
        if let Some(state) = c.state.as_mut() {
            let mut ctx = ctx!(self, Some(id));
            self.handler.received_to_file(state, &mut ctx, got);
        }
        self.apply_effects();
        if failed {
            self.close(id, CloseReason::Error);
            return &[];
        }
        &bytes[take..]
    }

    /// As the reactor: input left unconsumed is the range's first bytes.
    fn recv_file(&mut self, id: ConnId, file: Rc<File>, offset: u64, len: u64) {
        let Some(c) = self.conns.get_mut(&id) else { return };
        if c.read_closed || c.closed.is_some() {
            return;
        }
        if len == 0 {
            return;
        }
        c.receiving = Some((file, offset, len));
        if c.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut c.held);
        let rest = self.receive_to_file(id, &held);
        if let Some(c) = self.conns.get_mut(&id) {
            c.held = rest.to_vec();
        }
    }

    fn apply_effects(&mut self) {
        while !self.effects.is_empty() {
            let batch = std::mem::take(&mut self.effects);
            for effect in batch.list {
                match effect {
                    Effect::Write { to, start, end, .. } => {
                        if let Some(c) = self.conns.get_mut(&to)
                            && c.closed.is_none()
                            && !c.write_shut
                        {
                            c.output.extend_from_slice(&batch.bytes[start..end]);
                        }
                    }
                    Effect::SendFile { to, file, offset, len } => self.send_file(to, &file, offset, len),
                    Effect::RecvFile { from, file, offset, len } => self.recv_file(from, file, offset, len),
                    Effect::SendTo { sock, to, start, end } => {
                        self.datagrams.push(SentDatagram { sock, to, data: batch.bytes[start..end].to_vec() })
                    }
                    Effect::Close { id, mode } => {
                        let Some(c) = self.conns.get_mut(&id) else { continue };
                        let reason = if c.read_closed { CloseReason::PeerClosed } else { CloseReason::Local };
                        if mode == CloseMode::ShutdownWrite {
                            c.write_shut = true;
                            if c.read_closed {
                                self.close(id, reason);
                            }
                        } else {
                            self.close(id, reason);
                        }
                    }
                    Effect::Connect { addr, tag, .. } => self.connects.push((addr, tag)),
                    Effect::PauseReading(id) => {
                        if let Some(c) = self.conns.get_mut(&id) {
                            c.paused = true;
                        }
                    }
                    Effect::ResumeReading(id) => {
                        if let Some(c) = self.conns.get_mut(&id) {
                            c.paused = false;
                        }
                    }
                    Effect::Stop { .. } => self.stop_requested = true,
                }
            }
        }
    }
}

/// Log lines captured on the current thread, for tests that check a protocol *reported*
/// something (a log line is the only trace some errors leave).
///
/// The logger is global to the test binary, but capturing is per thread: each test runs on
/// its own thread and a [`TestTransport`] calls the handler on the caller's thread, so
/// tests running at once never see each other's lines.
#[cfg(test)]
pub(crate) mod logs {
    use std::cell::RefCell;
    use std::sync::Once;

    thread_local! {
        static LINES: RefCell<Option<Vec<(log::Level, String)>>> = const { RefCell::new(None) };
    }

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            LINES.with(|l| l.borrow().is_some())
        }

        fn log(&self, record: &log::Record<'_>) {
            LINES.with(|l| {
                if let Some(lines) = l.borrow_mut().as_mut() {
                    lines.push((record.level(), record.args().to_string()));
                }
            });
        }

        fn flush(&self) {}
    }

    /// Runs `f` and returns what it logged, at every level, in order.
    pub(crate) fn capture(f: impl FnOnce()) -> Vec<(log::Level, String)> {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            if log::set_logger(&Capture).is_ok() {
                log::set_max_level(log::LevelFilter::Trace);
            }
        });
        LINES.with(|l| *l.borrow_mut() = Some(Vec::new()));
        f();
        LINES.with(|l| l.borrow_mut().take()).unwrap_or_default()
    }
}
