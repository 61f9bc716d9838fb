//! What the slab holds: listeners, UDP sockets and connections with their queues and flags.

use super::files::Files;
use super::*;

pub(super) enum Io {
    Tcp(TcpStream),
    /// Boxed: the terminal is one connection of thousands, and a slot should stay small.
    Stdio(Box<Stdio>),
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

pub(super) struct Conn<C> {
    pub(super) io: Io,
    /// `None` until an outbound connect completes.
    pub(super) state: Option<C>,
    pub(super) tag: u64,
    pub(super) peer: SocketAddr,
    pub(super) out: OutBuf,
    /// Input the protocol has not consumed yet (empty, and unallocated, most of the time).
    /// At the end of input it goes to `Handler::eof` rather than being dropped.
    pub(super) held: Vec<u8>,
    /// When data last moved, in milliseconds since the reactor started (half an `Instant`).
    pub(super) last_active: Millis,
    /// A close or half-close waiting for the output queue to drain.
    pub(super) closing: Option<(CloseMode, CloseReason)>,
    pub(super) connecting: bool,
    pub(super) read_closed: bool,
    pub(super) write_shut: bool,
    pub(super) paused_backpressure: bool,
    pub(super) paused_by_protocol: bool,
    pub(super) writable_registered: bool,
    /// Bytes read from this connection have been written back to it (echo-like), so a
    /// read is capped at the room left in its own output queue.
    pub(super) feeds_itself: bool,
    /// Backpressure between connections; allocated the first time this connection writes to
    /// or is written by a full queue (chat, relay), so echo-like connections never pay for it.
    pub(super) links: Option<Box<Links>>,
    /// The kernel reported the peer's FIN or an error (RDHUP/HUP/ERR) on this socket. Its
    /// edge has been consumed, so no later event will announce it again: from now on a
    /// short read does not mean the socket is drained, and we read on until EOF, the error,
    /// or `WouldBlock`.
    pub(super) hup_seen: bool,
    /// Closed as far as the protocol and the counters are concerned (our FIN is sent), but
    /// the socket stays open, discarding input, until the peer has all we sent: see
    /// `close_flushed`.
    pub(super) lingering: bool,
    /// File ranges queued behind `out`, each with the bytes written after it, and the one
    /// the input goes into instead of `data`; one null pointer unless the protocol called
    /// `send_file` or `recv_file`.
    pub(super) files: Files,
    /// The last flush stopped at the write budget with the socket still writable: no edge
    /// will come, so the connection is on the still-ready list to be flushed again.
    pub(super) write_cut: bool,
}

impl<C> Conn<C> {
    pub(super) fn new(io: Io, state: Option<C>, tag: u64, peer: SocketAddr, now: Millis) -> Self {
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
            feeds_itself: false,
            links: None,
            hup_seen: false,
            lingering: false,
            files: Files::default(),
            write_cut: false,
        }
    }

    /// Anything still to send: queued bytes or a file range.
    pub(super) fn has_output(&self) -> bool {
        !self.out.is_empty() || !self.files.is_empty()
    }

    /// Bytes held in memory for this connection (file ranges are not in memory).
    pub(super) fn queued(&self) -> usize {
        self.out.len() + self.files.queued()
    }

    /// Where newly written bytes go so that they leave after everything queued before them.
    pub(super) fn tail(&mut self) -> &mut OutBuf {
        match self.files.back_mut() {
            Some(f) => &mut f.then,
            None => &mut self.out,
        }
    }

    /// The connection whose full queue this one waits on before it is read again.
    pub(super) fn blocked_on(&self) -> Option<ConnId> {
        self.links.as_ref().and_then(|l| l.blocked_on)
    }

    pub(super) fn links_mut(&mut self) -> &mut Links {
        self.links.get_or_insert_with(Box::default)
    }

    /// Takes the producers paused on this connection's queue, leaving none.
    pub(super) fn take_waiters(&mut self) -> Vec<ConnId> {
        self.links.as_mut().map(|l| std::mem::take(&mut l.waiters)).unwrap_or_default()
    }

    pub(super) fn may_read(&self) -> bool {
        !(self.connecting
            || self.read_closed
            || self.closing.is_some_and(|(m, _)| m != CloseMode::ShutdownWrite)
            || self.paused_backpressure
            || self.blocked_on().is_some()
            || self.paused_by_protocol)
    }
}

/// A timestamp in milliseconds since the reactor started: enough for idle timeouts, and 8
/// bytes where an `Instant` takes 16.
pub(super) type Millis = u64;

pub(super) fn millis_since(epoch: Instant, now: Instant) -> Millis {
    now.saturating_duration_since(epoch).as_millis() as Millis
}

#[derive(Default)]
pub(super) struct Links {
    /// Not read while the queue of this other connection, which it writes to, is full.
    pub(super) blocked_on: Option<ConnId>,
    /// Producers paused on this connection's full queue (see `blocked_on`).
    pub(super) waiters: Vec<ConnId>,
}

pub(super) struct Listener {
    pub(super) sock: TcpListener,
    pub(super) addr: SocketAddr,
    pub(super) paused: bool,
}

pub(super) enum Kind<C> {
    // Boxed like the others so a slot stays small: 10,000 idle connections are 10,000 slots.
    Listener(Box<Listener>),
    Conn(Box<Conn<C>>),
    Udp(UdpSocket),
}

/// Which kind of source an event is for, copied out so the slab is free again.
pub(super) enum Ready {
    Listener,
    Udp,
    Connecting,
    Conn,
}

impl Ready {
    pub(super) fn of<C>(kind: &Kind<C>) -> Ready {
        match kind {
            Kind::Listener(_) => Ready::Listener,
            Kind::Udp(_) => Ready::Udp,
            Kind::Conn(c) if c.connecting => Ready::Connecting,
            Kind::Conn(_) => Ready::Conn,
        }
    }
}

pub(super) struct Slot<C> {
    pub(super) id: ConnId,
    pub(super) kind: Kind<C>,
}

pub(super) fn conn_mut<C>(slab: &mut Slab<Slot<C>>, id: ConnId) -> Option<&mut Conn<C>> {
    match slab.get_mut(id.index()) {
        Some(Slot { id: sid, kind: Kind::Conn(c) }) if *sid == id => Some(c),
        _ => None,
    }
}

pub(super) fn set_writable<C>(registry: &Registry, id: ConnId, c: &mut Conn<C>, want: bool) {
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
pub(super) fn unacked_output(stream: &TcpStream) -> usize {
    use std::os::fd::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (the same number as TIOCOUTQ) stores one int for a TCP socket.
    match unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) } {
        0 => n.max(0) as usize,
        _ => 1, // unknown: assume something is still on its way
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn unacked_output(_stream: &TcpStream) -> usize {
    1 // unknown here: assume something is still on its way
}

pub(super) fn close_reason_for(e: &io::Error) -> CloseReason {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted => {
            CloseReason::Reset
        }
        _ => CloseReason::Error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The idle-memory budget (256 B per connection, BENCHMARKS.md) is mostly this box:
    /// glibc hands out 16-byte steps with 8 bytes of header, so 152 B costs 160.
    #[test]
    fn an_idle_connection_stays_small() {
        assert!(std::mem::size_of::<Conn<()>>() <= 152, "{}", std::mem::size_of::<Conn<()>>());
        assert!(std::mem::size_of::<Slot<()>>() <= 32);
    }
}
