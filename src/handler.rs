//! The one trait every protocol implements, and the [`Context`] through which it acts.
//!
//! A handler is a sans-IO state machine: it is told what happened (a connection came up,
//! bytes arrived, the peer half-closed, a timer fired) and answers only by asking the
//! `Context` for effects: write, close, set a timer, connect, stop. The reactor carries the
//! effects out after the callback returns. A protocol never touches a socket, so it can be
//! driven byte by byte in a unit test ([`crate::testing::TestTransport`]) exactly as the
//! reactor drives it on a real network. The callback names follow Twisted and Netty
//! (connectionMade, dataReceived, connectionLost), which many readers already know.

use crate::id::{ConnId, TimerId};
use crate::stats::{CloseReason, Stats};
use crate::timer::Timers;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What is known about a connection when it comes up.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// `Accepted(listener)` for a server-side connection, `Outbound(tag)` for one made with
    /// [`Context::connect`] or `Reactor::connect` (the tag is the caller's own number).
    pub origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Accepted(ConnId),
    Outbound(u64),
    /// The process's own stdin/stdout, added with `Reactor::add_stdio`.
    Stdio,
}

/// A protocol. One value of the implementing type serves every connection of a reactor
/// (shared state such as a chat room lives in it); each connection's own state is a
/// [`Handler::Conn`] that the reactor keeps in its slab next to the socket.
pub trait Handler {
    /// Per-connection state: typically an enum of protocol states.
    type Conn;

    /// The loop is about to make its first poll: the place to set a protocol's first global
    /// timers or start outbound connects (a load generator's ramp).
    fn started(&mut self, _ctx: &mut Context<'_>) {}

    /// A connection is up (accepted, or an outbound connect completed). Returns its state.
    fn connected(&mut self, ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Self::Conn;

    /// Bytes arrived. Returns how many of them the protocol consumed; the reactor keeps the
    /// rest and hands them back, followed by newer bytes, on the next call (or to
    /// [`Handler::eof`] if the input ends first). A protocol that needs a whole frame
    /// consumes nothing until the frame is complete.
    fn data(&mut self, conn: &mut Self::Conn, ctx: &mut Context<'_>, data: &[u8]) -> usize;

    /// The peer half-closed (read returned 0). `rest` is the input [`Handler::data`] left
    /// unconsumed, empty when the peer stopped on a message boundary.
    ///
    /// `rest` is handed over because only the protocol knows what a leftover tail means: a
    /// last line whose sender never typed the newline (`printf 'bye' | nc -N`), which a line
    /// protocol should still take, or a frame cut short, which is an error worth reporting.
    /// Without it those bytes would vanish with no trace. The reactor frees them after this
    /// call, so a protocol that wants them must act now.
    ///
    /// The default treats a leftover tail as an incomplete message that cannot be answered
    /// (logged at debug level) and closes once output is flushed: after a request/reply
    /// peer's FIN nothing more is coming to reply to, and keeping the connection would only
    /// hold a descriptor. Override it to half-close instead (echo) or to finish the tail.
    fn eof(&mut self, conn: &mut Self::Conn, ctx: &mut Context<'_>, rest: &[u8]) {
        let _ = conn;
        if !rest.is_empty()
            && let Some(id) = ctx.id()
        {
            log::debug!("{id}: input ended with {} bytes of an unfinished message, dropped", rest.len());
        }
        ctx.close();
    }

    /// All queued output has been taken by the kernel (after a period of backpressure, or
    /// after a [`Context::send_file`]).
    fn drained(&mut self, _conn: &mut Self::Conn, _ctx: &mut Context<'_>) {}

    /// This connection's output queue just grew past the high-water mark, so the reactor
    /// has stopped reading from it. A protocol that writes to it on others' behalf (a chat
    /// room) decides here what else to do, such as disconnecting a member who never reads.
    fn backlogged(&mut self, _conn: &mut Self::Conn, _ctx: &mut Context<'_>, _queued: usize) {}

    /// Bytes of a [`Context::recv_file`] range reached the file: `Ok(n)`, `n` more of them
    /// (the range is complete when they add up to its length). `Err`: writing them failed;
    /// the connection closes after this call, since the bytes on their way are lost.
    fn received_to_file(&mut self, _conn: &mut Self::Conn, _ctx: &mut Context<'_>, _got: io::Result<u64>) {}

    /// A timer set with [`Context::set_timer`] during one of this connection's callbacks.
    fn timer(&mut self, _conn: &mut Self::Conn, _ctx: &mut Context<'_>, _key: u64) {}

    /// A timer set with [`Context::set_global_timer`].
    fn global_timer(&mut self, _ctx: &mut Context<'_>, _key: u64) {}

    /// The connection is gone, for `reason`. Its state is handed back to be dropped.
    fn closed(&mut self, _conn: Self::Conn, _ctx: &mut Context<'_>, _id: ConnId, _reason: CloseReason) {}

    /// An outbound connect with this tag failed before the connection came up.
    fn connect_failed(&mut self, _ctx: &mut Context<'_>, _tag: u64, _err: &io::Error) {}

    /// A datagram arrived on UDP socket `sock`.
    fn datagram(&mut self, _ctx: &mut Context<'_>, _sock: ConnId, _from: SocketAddr, _data: &[u8]) {}

    /// A graceful stop began: listeners are closed and every connection will be closed once
    /// its output is flushed. A protocol may write a last word here (a chat notice).
    fn stopping(&mut self, _ctx: &mut Context<'_>) {}
}

/// How a close request treats output that is still queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseMode {
    /// Send what is queued, then close.
    Flush,
    /// Send what is queued, then shut down the write side (FIN) and keep reading.
    ShutdownWrite,
    /// Drop what is queued and close now.
    Abort,
}

/// Who a timer belongs to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TimerOwner {
    Conn(ConnId, u64),
    Global(u64),
    /// The reactor's own timers (idle checks, accept pauses, stats, grace period).
    Reactor(crate::reactor::Internal),
}

pub(crate) enum Effect {
    /// Bytes `start..end` of the effect arena go to connection `to`.
    Write {
        to: ConnId,
        /// The connection whose callback produced the bytes: paused if `to` backs up.
        from: Option<ConnId>,
        start: usize,
        end: usize,
    },
    /// `len` bytes of `file` from `offset` go to connection `to`, after what is queued.
    SendFile {
        to: ConnId,
        file: Rc<File>,
        offset: u64,
        len: u64,
    },
    /// The next `len` bytes from connection `from` go to `file` from `offset`.
    RecvFile {
        from: ConnId,
        file: Rc<File>,
        offset: u64,
        len: u64,
    },
    SendTo {
        sock: ConnId,
        to: SocketAddr,
        start: usize,
        end: usize,
    },
    Close {
        id: ConnId,
        mode: CloseMode,
    },
    Connect {
        addr: SocketAddr,
        from: Option<SocketAddr>,
        tag: u64,
    },
    PauseReading(ConnId),
    ResumeReading(ConnId),
    Stop {
        flush: bool,
    },
}

/// Effects asked for during one callback, with the bytes they carry in one arena.
#[derive(Default)]
pub(crate) struct Effects {
    pub(crate) bytes: Vec<u8>,
    pub(crate) list: Vec<Effect>,
}

impl Effects {
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// The handler's only way to act. Everything asked of it happens after the callback returns,
/// in the order asked.
pub struct Context<'a> {
    pub(crate) now: Instant,
    pub(crate) current: Option<ConnId>,
    /// Inside `data`: what this callback writes was produced by reading `current`, so
    /// `current` is the connection to slow down if the destination backs up.
    pub(crate) reading: bool,
    pub(crate) effects: &'a mut Effects,
    pub(crate) timers: &'a mut Timers<TimerOwner>,
    pub(crate) stats: &'a Stats,
}

impl Context<'_> {
    /// The time of this turn of the loop (virtual in tests).
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The connection this callback is about, if any.
    pub fn id(&self) -> Option<ConnId> {
        self.current
    }

    pub fn stats(&self) -> &Stats {
        self.stats
    }

    /// Queues bytes for the current connection.
    pub fn write(&mut self, bytes: &[u8]) {
        if let Some(id) = self.current {
            self.write_to(id, bytes);
        }
    }

    /// Queues bytes for any connection. An id that no longer exists is ignored.
    pub fn write_to(&mut self, to: ConnId, bytes: &[u8]) {
        let fx = &mut *self.effects;
        let start = fx.bytes.len();
        fx.bytes.extend_from_slice(bytes);
        let end = fx.bytes.len();
        // Consecutive writes to one connection become one, so a header and its payload
        // written separately still leave in one system call.
        let from = if self.reading { self.current } else { None };
        if let Some(Effect::Write { to: last, from: last_from, end: last_end, .. }) = fx.list.last_mut()
            && *last == to
            && *last_from == from
            && *last_end == start
        {
            *last_end = end;
            return;
        }
        fx.list.push(Effect::Write { to, from, start, end });
    }

    /// Queues `len` bytes of `file`, from `offset`, for the current connection: they go out
    /// after everything written before, and bytes written after go out after them.
    ///
    /// The range is never loaded into memory: the reactor sends it as the socket drains,
    /// with `sendfile(2)` on Linux (`Config::sendfile`), else through its one read buffer,
    /// so a transfer of any size costs no memory per connection. [`Handler::drained`] fires
    /// once the range and everything after it is out, even if that happens at once; a file
    /// that turns out shorter than the range closes the connection with an error. Reads
    /// use their own offset, so one `File` may feed many connections at once.
    pub fn send_file(&mut self, file: Rc<File>, offset: u64, len: u64) {
        if let Some(id) = self.current {
            self.send_file_to(id, file, offset, len);
        }
    }

    /// [`Context::send_file`] for any connection. An id that no longer exists is ignored.
    pub fn send_file_to(&mut self, to: ConnId, file: Rc<File>, offset: u64, len: u64) {
        self.effects.list.push(Effect::SendFile { to, file, offset, len });
    }

    /// The current connection's next `len` bytes of input go to `file`, from `offset`,
    /// instead of to [`Handler::data`]; the input it has left unconsumed comes first, so a
    /// protocol that reads a header returns the header's length and asks for the rest.
    /// [`Handler::received_to_file`] says how far it got; after the range, input goes to
    /// `data` again. `u64::MAX`: until the end of input. Asking again while a range is open
    /// replaces it.
    ///
    /// On Linux the bytes go from socket to file with `splice(2)`, never through user
    /// space (`Config::splice`); elsewhere through the reactor's one read buffer. Writing
    /// to a regular file is blocking IO in the loop, so this is for a client or a loop
    /// whose files are on a local disk.
    pub fn recv_file(&mut self, file: Rc<File>, offset: u64, len: u64) {
        if let Some(from) = self.current {
            self.effects.list.push(Effect::RecvFile { from, file, offset, len });
        }
    }

    /// Sends one datagram from UDP socket `sock`. If the kernel's send buffer is full the
    /// datagram is dropped and counted (`datagrams_dropped`), as UDP would on the wire; a send
    /// that fails for another reason (no route, too long) is dropped, counted and logged.
    pub fn send_to(&mut self, sock: ConnId, to: SocketAddr, bytes: &[u8]) {
        let start = self.effects.bytes.len();
        self.effects.bytes.extend_from_slice(bytes);
        let end = self.effects.bytes.len();
        self.effects.list.push(Effect::SendTo { sock, to, start, end });
    }

    /// Closes the current connection once its queued output is sent.
    pub fn close(&mut self) {
        if let Some(id) = self.current {
            self.close_conn(id);
        }
    }

    /// Closes any connection once its queued output is sent.
    pub fn close_conn(&mut self, id: ConnId) {
        self.effects.list.push(Effect::Close { id, mode: CloseMode::Flush });
    }

    /// Closes the current connection at once, dropping queued output.
    pub fn abort(&mut self) {
        if let Some(id) = self.current {
            self.abort_conn(id);
        }
    }

    pub fn abort_conn(&mut self, id: ConnId) {
        self.effects.list.push(Effect::Close { id, mode: CloseMode::Abort });
    }

    /// Sends queued output, then a FIN; the connection stays open for reading (half-close).
    pub fn shutdown_write(&mut self) {
        if let Some(id) = self.current {
            self.shutdown_write_conn(id);
        }
    }

    pub fn shutdown_write_conn(&mut self, id: ConnId) {
        self.effects.list.push(Effect::Close { id, mode: CloseMode::ShutdownWrite });
    }

    /// Stops reading from a connection until [`Context::resume_reading`].
    pub fn pause_reading(&mut self, id: ConnId) {
        self.effects.list.push(Effect::PauseReading(id));
    }

    pub fn resume_reading(&mut self, id: ConnId) {
        self.effects.list.push(Effect::ResumeReading(id));
    }

    /// Calls [`Handler::timer`] for the current connection after `after`, with `key`.
    /// The timer dies with the connection. Outside a connection callback it is global.
    pub fn set_timer(&mut self, after: Duration, key: u64) -> TimerId {
        let owner = match self.current {
            Some(id) => TimerOwner::Conn(id, key),
            None => TimerOwner::Global(key),
        };
        self.timers.set(self.now + after, owner)
    }

    /// Calls [`Handler::global_timer`] after `after`, with `key`.
    pub fn set_global_timer(&mut self, after: Duration, key: u64) -> TimerId {
        self.timers.set(self.now + after, TimerOwner::Global(key))
    }

    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.timers.cancel(timer);
    }

    /// Starts a non-blocking connect. [`Handler::connected`] follows with
    /// `Origin::Outbound(tag)`, or [`Handler::connect_failed`] with the same tag.
    pub fn connect(&mut self, addr: SocketAddr, tag: u64) {
        self.effects.list.push(Effect::Connect { addr, from: None, tag });
    }

    /// Like [`Context::connect`], from a chosen local address (port 0: any port).
    pub fn connect_from(&mut self, local: SocketAddr, addr: SocketAddr, tag: u64) {
        self.effects.list.push(Effect::Connect { addr, from: Some(local), tag });
    }

    /// Begins a graceful stop of the whole reactor: every connection is closed once its
    /// queued output is sent, or when the grace period ([`crate::Config::grace`]) runs out.
    pub fn stop(&mut self) {
        self.effects.list.push(Effect::Stop { flush: true });
    }

    /// Stops the whole reactor at once: every connection is closed now, and what is queued
    /// for it is dropped. For a client whose work is over (a load generator at the end of
    /// its run owes its connections nothing), not for a server with clients to serve.
    pub fn stop_now(&mut self) {
        self.effects.list.push(Effect::Stop { flush: false });
    }
}

/// Hands bytes to `handler.data`, keeping what it does not consume in `held` for next time.
/// Shared by the reactor and the test transport so both split input the same way.
pub(crate) fn feed<H: Handler>(
    handler: &mut H,
    conn: &mut H::Conn,
    ctx: &mut Context<'_>,
    held: &mut Vec<u8>,
    fresh: &[u8],
) {
    if held.is_empty() {
        let used = handler.data(conn, ctx, fresh).min(fresh.len());
        if used < fresh.len() {
            held.extend_from_slice(&fresh[used..]);
        }
    } else {
        held.extend_from_slice(fresh);
        let used = handler.data(conn, ctx, held).min(held.len());
        if used == held.len() {
            *held = Vec::new();
        } else {
            held.drain(..used);
        }
    }
}
