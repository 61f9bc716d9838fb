//! The shell every interactive client shares: the process's stdin/stdout (one reactor
//! "connection", `Origin::Stdio`) bridged to one server, so typing and the server's replies
//! are readiness events in the same loop and no second thread is needed.
//!
//! A [`Session`] does what is the same for every client, and a [`Client`] says only what
//! differs: how stdin becomes bytes for the server, how the server's bytes become stdout,
//! and when it is done ([`Io::finish`]). The session:
//!
//! - starts the connect as soon as stdin/stdout is up (`Reactor::add_stdio`), and, as `nc`
//!   does, moves on to the next address when one is refused ([`Dial`]);
//! - pauses stdin while connecting, keeps what one read brought in before the pause took
//!   effect, and hands it (and stdin's end, if that came too) to the client once connected;
//! - after that, reads stdin only while the client [`Client::wants_input`];
//! - ends when the server closes, the connection breaks, stdout goes away, a signal stops
//!   the reactor, or the client says so: both ends close once what is queued for them is
//!   sent (stdout gets the server's last words), then the reactor stops.
//!
//! Over UDP ([`Session::udp`]) there is nothing to connect: the caller binds a socket with
//! `Reactor::bind_udp` and names it with [`Session::use_socket`] before `add_stdio`.
//!
//! Flow control needs nothing here: when one end's output queue backs up, the reactor
//! stops reading the connection that produced the bytes (the other end) until it drains.

use crate::protocols::dial::Dial;
use crate::{CloseReason, ConnId, ConnInfo, Context, Handler, Origin};
use log::{debug, info};
use std::io;
use std::net::SocketAddr;

/// The tag of a session's outbound connects.
pub const TAG: u64 = 0;

/// How a client session ended, for the exit status.
#[derive(Debug)]
pub enum Outcome {
    /// The server closed, the input ended, or a signal stopped us: a normal end.
    Closed,
    /// No address could be connected to; the error of the last attempt.
    ConnectFailed(io::Error),
    /// The connection broke (reset, error) rather than closing cleanly.
    Lost(CloseReason),
    /// The server broke the protocol, or our input cannot be sent; the reason.
    Failed(String),
}

impl Outcome {
    /// The exit status a command line reports for this outcome, talking to `addr`.
    pub fn result(&self, addr: &str) -> Result<(), String> {
        match self {
            Outcome::Closed => Ok(()),
            Outcome::ConnectFailed(e) => Err(format!("cannot connect to {addr}: {e}")),
            Outcome::Lost(reason) => Err(format!("connection to {addr} lost: {reason}")),
            Outcome::Failed(why) => Err(why.clone()),
        }
    }
}

/// What one client protocol does with the bytes that pass through its [`Session`]. Every
/// callback happens while the session runs, with an [`Io`] to act through.
pub trait Client {
    /// The connection is up, before anything typed early is handed over: the place for a
    /// first word (chat's `/nick`).
    fn opened(&mut self, _io: &mut Io<'_, '_>) {}

    /// Bytes read from stdin. All of them are taken: a client that works in lines keeps the
    /// partial one itself ([`crate::protocols::lines::LineBuf`]).
    fn input(&mut self, io: &mut Io<'_, '_>, data: &[u8]);

    /// stdin ended; nothing more comes from it.
    fn input_ended(&mut self, io: &mut Io<'_, '_>);

    /// Whether stdin should be read now; asked after every event while stdin is open. A
    /// client that bounds what it has in flight says no until there is room.
    fn wants_input(&self, _ctx: &Context<'_>) -> bool {
        true
    }

    /// Bytes from the server (TCP). Returns how many were used; the rest comes back in
    /// front of newer bytes, as in [`Handler::data`].
    fn received(&mut self, io: &mut Io<'_, '_>, data: &[u8]) -> usize;

    /// A datagram from `from` (UDP).
    fn datagram(&mut self, _io: &mut Io<'_, '_>, _from: SocketAddr, _data: &[u8]) {}

    /// A timer set with `Context::set_global_timer` (through [`Io::context`]) fired.
    fn timer(&mut self, _io: &mut Io<'_, '_>, _key: u64) {}

    /// The server closed its side. `rest` is what [`Client::received`] left unused: empty
    /// after a clean end, else the server's last line without its newline, or a reply it
    /// cut short. The session ends right after, normally unless the client calls
    /// [`Io::finish`] with another outcome; this is where a client prints its last words
    /// and says what was left undone.
    fn server_closed(&mut self, _io: &mut Io<'_, '_>, _rest: &[u8]) {}

    /// How the session ends when the connection to the server closes for `reason` before
    /// the session did (a close it asked for never gets here).
    fn lost(&self, reason: CloseReason) -> Outcome {
        match reason {
            CloseReason::Reset | CloseReason::Error => Outcome::Lost(reason),
            _ => Outcome::Closed,
        }
    }
}

/// Which end of the session a reactor connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Stdio,
    Tcp,
}

/// Where the client's bytes for the server go, and which address that is.
#[derive(Clone, Copy, Debug)]
enum Link {
    Tcp { conn: ConnId, server: SocketAddr },
    Udp { sock: ConnId, server: SocketAddr },
}

impl Link {
    fn server(self) -> SocketAddr {
        match self {
            Link::Tcp { server, .. } | Link::Udp { server, .. } => server,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stdin {
    Reading,
    Paused,
    Ended,
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    Tcp,
    /// The socket to send from, once [`Session::use_socket`] names it.
    Udp(Option<ConnId>),
}

#[derive(Debug)]
enum State {
    /// stdin/stdout is not up yet.
    Start,
    /// The connect to the current address is under way; stdin is paused.
    Connecting { stdio: ConnId, early: Vec<u8>, stdin_ended: bool },
    /// Bytes flow. After stdin's end only the server-to-stdout direction is left.
    Open { stdio: ConnId, link: Link, stdin: Stdin },
    /// The session is over; stdout is being flushed and the reactor is stopping.
    Done(Outcome),
}

/// A client's way to act on the session's two ends, during one of its callbacks.
pub struct Io<'s, 'c> {
    ctx: &'s mut Context<'c>,
    stdio: ConnId,
    link: Link,
    end: Option<Outcome>,
}

impl<'c> Io<'_, 'c> {
    /// Sends bytes to the server: on the connection, or as one datagram.
    pub fn send(&mut self, bytes: &[u8]) {
        if self.end.is_some() {
            return;
        }
        match self.link {
            Link::Tcp { conn, .. } => self.ctx.write_to(conn, bytes),
            Link::Udp { sock, server } => self.ctx.send_to(sock, server, bytes),
        }
    }

    /// Writes bytes to stdout.
    pub fn print(&mut self, bytes: &[u8]) {
        if self.end.is_none() {
            self.ctx.write_to(self.stdio, bytes);
        }
    }

    /// Sends a FIN once what is queued for the server is out (TCP; a no-op over UDP). The
    /// server's replies are still read.
    pub fn shutdown_write(&mut self) {
        if let (Link::Tcp { conn, .. }, None) = (self.link, &self.end) {
            self.ctx.shutdown_write_conn(conn);
        }
    }

    /// The address talked to: the one connected to, or the UDP server.
    pub fn server(&self) -> SocketAddr {
        self.link.server()
    }

    /// Ends the session once this callback returns; later sends and prints are dropped.
    pub fn finish(&mut self, outcome: Outcome) {
        self.end.get_or_insert(outcome);
    }

    /// The reactor's context, for timers and counters.
    pub fn context(&mut self) -> &mut Context<'c> {
        self.ctx
    }
}

/// stdin/stdout and one server, driven by client `C`: the [`Handler`] an interactive
/// command runs.
pub struct Session<C> {
    client: C,
    dial: Dial,
    transport: Transport,
    state: State,
}

impl<C: Client> Session<C> {
    /// A TCP session; `addrs` are tried in order once stdin/stdout is up.
    pub fn tcp(client: C, addrs: Vec<SocketAddr>) -> Self {
        Session { client, dial: Dial::new(addrs), transport: Transport::Tcp, state: State::Start }
    }

    /// A UDP session with `server`, from the socket given to [`Session::use_socket`].
    pub fn udp(client: C, server: SocketAddr) -> Self {
        Session {
            client,
            dial: Dial::new(vec![server]),
            transport: Transport::Udp(None),
            state: State::Start,
        }
    }

    /// The UDP socket to send from (bound with `Reactor::bind_udp` before `add_stdio`).
    pub fn use_socket(&mut self, sock: ConnId) {
        if let Transport::Udp(slot) = &mut self.transport {
            *slot = Some(sock);
        }
    }

    /// The server of a UDP session, to bind a socket of its family; `None` over TCP.
    pub fn udp_server(&self) -> Option<SocketAddr> {
        match self.transport {
            Transport::Udp(_) => self.dial.current(),
            Transport::Tcp => None,
        }
    }

    /// `None` while the session is still running.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.state {
            State::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// Ends the session: both ends close once what is queued for them is sent, then the
    /// reactor stops.
    fn finish(&mut self, ctx: &mut Context<'_>, outcome: Outcome) {
        match self.state {
            State::Connecting { stdio, .. } => ctx.close_conn(stdio),
            State::Open { stdio, link, .. } => {
                if let Link::Tcp { conn, .. } = link {
                    ctx.close_conn(conn);
                }
                ctx.close_conn(stdio);
            }
            State::Start | State::Done(_) => {}
        }
        ctx.stop();
        self.state = State::Done(outcome);
    }

    /// Runs one client callback while the session is open; then ends the session if the
    /// client asked, or else pauses or resumes stdin as the client now wants.
    fn with_client<R>(
        &mut self,
        ctx: &mut Context<'_>,
        call: impl FnOnce(&mut C, &mut Io<'_, '_>) -> R,
    ) -> Option<R> {
        let State::Open { stdio, link, .. } = self.state else { return None };
        let mut io = Io { ctx: &mut *ctx, stdio, link, end: None };
        let result = call(&mut self.client, &mut io);
        match io.end {
            Some(outcome) => self.finish(ctx, outcome),
            None => self.pace_stdin(ctx),
        }
        Some(result)
    }

    fn pace_stdin(&mut self, ctx: &mut Context<'_>) {
        let State::Open { stdio, stdin, .. } = &mut self.state else { return };
        let want = match *stdin {
            Stdin::Ended => return,
            _ => self.client.wants_input(ctx),
        };
        if want != (*stdin == Stdin::Reading) {
            *stdin = if want { Stdin::Reading } else { Stdin::Paused };
            if want { ctx.resume_reading(*stdio) } else { ctx.pause_reading(*stdio) }
        }
    }

    /// stdin/stdout came up: connect (TCP), or start at once from the bound socket (UDP).
    fn stdio_up(&mut self, ctx: &mut Context<'_>, stdio: ConnId) {
        match (self.transport, self.dial.current()) {
            (Transport::Tcp, Some(first)) => {
                // Hold stdin back until there is somewhere to send it.
                ctx.pause_reading(stdio);
                ctx.connect(first, TAG);
                self.state = State::Connecting { stdio, early: Vec::new(), stdin_ended: false };
            }
            (Transport::Tcp, None) => {
                let err = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to connect to");
                self.finish(ctx, Outcome::ConnectFailed(err));
            }
            (Transport::Udp(Some(sock)), Some(server)) => {
                self.state = State::Open { stdio, link: Link::Udp { sock, server }, stdin: Stdin::Reading };
            }
            // Only reachable if the caller forgot `use_socket`.
            (Transport::Udp(_), _) => self.finish(ctx, Outcome::Failed("no UDP socket to send from".into())),
        }
    }
}

impl<C: Client> Handler for Session<C> {
    type Conn = Side;

    fn connected(&mut self, ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Side {
        match (info.origin, std::mem::replace(&mut self.state, State::Start)) {
            (Origin::Stdio, State::Start) => {
                self.stdio_up(ctx, id);
                Side::Stdio
            }
            (Origin::Outbound(_), State::Connecting { stdio, early, stdin_ended }) => {
                info!("connected to {}", info.peer);
                let server = self.dial.current().unwrap_or(info.peer);
                let stdin = if stdin_ended { Stdin::Ended } else { Stdin::Paused };
                self.state = State::Open { stdio, link: Link::Tcp { conn: id, server }, stdin };
                self.with_client(ctx, |client, io| {
                    client.opened(io);
                    if !early.is_empty() {
                        client.input(io, &early);
                    }
                    if stdin_ended {
                        client.input_ended(io);
                    }
                });
                Side::Tcp
            }
            (origin, state) => {
                // Only reachable if the caller wires it up in the wrong order or twice.
                debug!("unexpected {origin:?} connection in state {state:?}: closed");
                ctx.abort();
                self.state = state;
                if origin == Origin::Stdio { Side::Stdio } else { Side::Tcp }
            }
        }
    }

    fn data(&mut self, side: &mut Side, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        match (*side, &mut self.state) {
            (Side::Stdio, State::Connecting { stdio, early, .. }) => {
                // The pause asked for in `connected` may not have been applied before this read.
                early.extend_from_slice(data);
                ctx.pause_reading(*stdio);
                data.len()
            }
            (Side::Stdio, State::Open { .. }) => {
                self.with_client(ctx, |client, io| client.input(io, data));
                data.len()
            }
            (Side::Tcp, State::Open { .. }) => {
                self.with_client(ctx, |client, io| client.received(io, data)).unwrap_or(data.len())
            }
            // Late bytes after the session ended have nowhere to go.
            _ => data.len(),
        }
    }

    /// stdin's `rest` is always empty (its bytes are all taken, see [`Client::input`]); the
    /// server's goes to [`Client::server_closed`].
    fn eof(&mut self, side: &mut Side, ctx: &mut Context<'_>, rest: &[u8]) {
        match (*side, &mut self.state) {
            (Side::Stdio, State::Connecting { stdin_ended, .. }) => *stdin_ended = true,
            (Side::Stdio, State::Open { stdin, .. }) => {
                *stdin = Stdin::Ended;
                self.with_client(ctx, |client, io| client.input_ended(io));
            }
            (Side::Tcp, State::Open { stdio, link, .. }) => {
                let mut io = Io { ctx: &mut *ctx, stdio: *stdio, link: *link, end: None };
                self.client.server_closed(&mut io, rest);
                let outcome = io.end.unwrap_or(Outcome::Closed);
                self.finish(ctx, outcome);
            }
            _ => {}
        }
    }

    /// A queue drained: a client that paces stdin by what is queued may want more now.
    fn drained(&mut self, _side: &mut Side, ctx: &mut Context<'_>) {
        self.pace_stdin(ctx);
    }

    fn datagram(&mut self, ctx: &mut Context<'_>, _sock: ConnId, from: SocketAddr, data: &[u8]) {
        self.with_client(ctx, |client, io| client.datagram(io, from, data));
    }

    fn global_timer(&mut self, ctx: &mut Context<'_>, key: u64) {
        self.with_client(ctx, |client, io| client.timer(io, key));
    }

    fn closed(&mut self, side: Side, ctx: &mut Context<'_>, _id: ConnId, reason: CloseReason) {
        if matches!(self.state, State::Done(_) | State::Start) {
            return;
        }
        let outcome = match side {
            Side::Tcp => self.client.lost(reason),
            // Stopped by a signal, or stdout went away (`| head`): nothing left to do.
            Side::Stdio => Outcome::Closed,
        };
        self.finish(ctx, outcome);
    }

    /// A signal (Ctrl-C) stops the reactor: end the session first, so that closing a connect
    /// still in progress does not make `connect_failed` start one to the next address.
    fn stopping(&mut self, ctx: &mut Context<'_>) {
        if !matches!(self.state, State::Done(_)) {
            self.finish(ctx, Outcome::Closed);
        }
    }

    fn connect_failed(&mut self, ctx: &mut Context<'_>, tag: u64, err: &io::Error) {
        if !matches!(self.state, State::Connecting { .. }) {
            return;
        }
        let failed = self.dial.current();
        match self.dial.advance() {
            Some(next) => {
                info!("connect to {failed:?} failed ({err}); trying {next}");
                ctx.connect(next, tag);
            }
            None => self.finish(ctx, Outcome::ConnectFailed(io::Error::new(err.kind(), err.to_string()))),
        }
    }
}

/// A session of `client` with stdin/stdout up and the connect to `server` completed, as the
/// command line sets it up: the transport, stdio's id and the connection's.
#[cfg(test)]
pub(crate) fn connected<C: Client>(
    client: C,
    server: SocketAddr,
) -> (crate::testing::TestTransport<Session<C>>, ConnId, ConnId) {
    let mut t = crate::testing::TestTransport::new(Session::tcp(client, vec![server]));
    let stdio = t.open_stdio();
    assert!(t.is_paused(stdio), "stdin waits for the connection");
    let tcp = t.complete_connect(TAG, server);
    assert!(!t.is_paused(stdio));
    (t, stdio, tcp)
}

/// The shell's own behaviour, through the plainest client ([`Bridge`]: bytes as they are).
///
/// [`Bridge`]: crate::protocols::connect::Bridge
#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::connect::Bridge;
    use crate::testing::TestTransport;

    fn server() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 7000))
    }

    fn other() -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 7000))
    }

    fn session(addrs: Vec<SocketAddr>) -> TestTransport<Session<Bridge>> {
        TestTransport::new(Session::tcp(Bridge::default(), addrs))
    }

    #[test]
    fn stdin_before_the_connect_is_sent_once_connected() {
        let mut t = session(vec![server()]);
        let stdio = t.open_stdio();
        assert_eq!(t.take_connects(), [(server(), TAG)], "the connect starts with stdin/stdout");
        // Two reads got in before the pause took effect, then stdin ended.
        t.feed(stdio, b"early ");
        t.feed(stdio, b"bird\n");
        t.eof(stdio);
        assert_eq!(t.closed(stdio), None, "stdout is still needed");
        let tcp = t.complete_connect(TAG, server());
        assert_eq!(t.take_output(tcp), b"early bird\n");
        assert!(t.is_write_shut(tcp), "stdin's EOF is passed on after its bytes");
        t.feed(tcp, b"early bird\n");
        t.eof(tcp);
        assert_eq!(t.output(stdio), b"early bird\n");
        assert!(t.stop_requested());
    }

    #[test]
    fn server_close_flushes_stdout_and_stops() {
        let (mut t, stdio, tcp) = connected(Bridge::default(), server());
        t.feed(tcp, b"bye");
        t.eof(tcp);
        assert_eq!(t.output(stdio), b"bye");
        assert!(t.closed(stdio).is_some());
        assert!(t.closed(tcp).is_some());
        assert!(t.stop_requested());
        assert!(matches!(t.handler().outcome(), Some(Outcome::Closed)));
    }

    #[test]
    fn a_reset_is_reported_as_lost() {
        let (mut t, stdio, tcp) = connected(Bridge::default(), server());
        t.reset(tcp);
        assert!(t.closed(stdio).is_some());
        assert!(t.stop_requested());
        assert!(matches!(t.handler().outcome(), Some(Outcome::Lost(CloseReason::Reset))));
    }

    #[test]
    fn a_stop_while_connecting_ends_the_session_without_trying_the_next_address() {
        let mut t = session(vec![server(), other()]);
        let stdio = t.open_stdio();
        t.take_connects();
        t.stop();
        assert!(matches!(t.handler().outcome(), Some(Outcome::Closed)));
        assert!(t.closed(stdio).is_some());
        t.fail_connect(TAG, &io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(t.take_connects().is_empty(), "no new connect while stopping");
    }

    #[test]
    fn a_refused_address_moves_on_to_the_next_then_reports_the_last_error() {
        let mut t = session(vec![other(), server()]);
        let stdio = t.open_stdio();
        assert_eq!(t.take_connects(), [(other(), TAG)]);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        t.fail_connect(TAG, &refused);
        assert_eq!(t.take_connects(), [(server(), TAG)]);
        assert!(t.handler().outcome().is_none(), "one address left to try");
        t.fail_connect(TAG, &refused);
        assert!(t.take_connects().is_empty());
        assert!(t.closed(stdio).is_some());
        assert!(t.stop_requested());
        match t.handler().outcome() {
            Some(Outcome::ConnectFailed(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("expected a connect failure, got {other:?}"),
        }
    }

    #[test]
    fn no_address_at_all_is_a_connect_failure_not_a_hang() {
        let mut t = session(Vec::new());
        t.open_stdio();
        assert!(t.stop_requested());
        assert!(matches!(t.handler().outcome(), Some(Outcome::ConnectFailed(_))));
    }
}
