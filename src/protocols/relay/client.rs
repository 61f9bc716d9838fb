//! The interactive relay client, over UDP (the classic) or TCP: each stdin line is sent as
//! it is (a datagram, or a line), and whatever arrives is printed with its sender, one
//! line each: `from 127.0.0.1:9000: 200, UDP Packet Sent Successfully`.
//!
//! Set-up, UDP: `Reactor::bind_udp` (any port), [`RelayClient::use_socket`], then
//! `Reactor::add_stdio`. TCP: `Reactor::add_stdio`, then `Reactor::connect(first, TAG)`.
//!
//! How it ends: over TCP, stdin's end half-closes the connection and the server's close
//! ends the session, so every reply is printed. UDP has no close, so after stdin's end the
//! client listens on until nothing has arrived for the `wait` it was given.

use crate::protocols::dial::{Dial, Outcome};
use crate::protocols::lines::{LineBuf, next_line};
use crate::{CloseReason, ConnId, ConnInfo, Context, Handler, Origin, TimerId};
use log::{debug, info};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// The tag of this client's outbound connects.
pub const TAG: u64 = 0;
/// The longest line sent or printed whole; a UDP datagram cannot be much longer anyway.
pub const MAX_LINE: usize = 64 << 10;
/// Bytes queued for the server above which stdin is not read until they drain.
const WINDOW: u64 = 256 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Stdio,
    Tcp,
}

/// Where lines go.
#[derive(Clone, Copy, Debug)]
enum Link {
    Udp { sock: ConnId },
    Tcp { conn: ConnId },
}

#[derive(Debug)]
enum State {
    /// UDP: the socket, once [`RelayClient::use_socket`] names it.
    Start {
        sock: Option<ConnId>,
    },
    /// TCP: stdin is up (and paused) while the connect is under way.
    Connecting {
        stdio: ConnId,
    },
    Running {
        stdio: ConnId,
        link: Link,
        stdin_paused: bool,
    },
    /// TCP: stdin ended and our FIN is sent; the server's replies are still printed.
    Draining {
        stdio: ConnId,
        conn: ConnId,
    },
    /// UDP: stdin ended; late datagrams are still printed until `wait` passes in silence.
    Lingering {
        stdio: ConnId,
        timer: TimerId,
    },
    Done(Outcome),
}

pub struct RelayClient {
    udp: bool,
    /// UDP: the one server address. TCP: the addresses to try, in order.
    dial: Dial,
    wait: Duration,
    lines: LineBuf,
    state: State,
}

impl RelayClient {
    /// A UDP client talking to `server`; after stdin ends it waits `wait` for more replies.
    pub fn udp(server: SocketAddr, wait: Duration) -> Self {
        RelayClient { udp: true, ..RelayClient::new(vec![server], wait) }
    }

    /// A TCP client; `addrs` are tried in order and the caller connects to the first.
    pub fn tcp(addrs: Vec<SocketAddr>) -> Self {
        RelayClient::new(addrs, Duration::ZERO)
    }

    fn new(addrs: Vec<SocketAddr>, wait: Duration) -> Self {
        RelayClient {
            udp: false,
            dial: Dial::new(addrs),
            wait,
            lines: LineBuf::new(MAX_LINE),
            state: State::Start { sock: None },
        }
    }

    /// The UDP socket to send from (bound with `Reactor::bind_udp` before `add_stdio`).
    pub fn use_socket(&mut self, sock: ConnId) {
        if let State::Start { sock: slot } = &mut self.state {
            *slot = Some(sock);
        }
    }

    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.state {
            State::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    fn finish(&mut self, ctx: &mut Context<'_>, outcome: Outcome) {
        match self.state {
            State::Connecting { stdio } | State::Lingering { stdio, .. } => ctx.close_conn(stdio),
            State::Running { stdio, link, .. } => {
                if let Link::Tcp { conn } = link {
                    ctx.close_conn(conn);
                }
                ctx.close_conn(stdio);
            }
            State::Draining { stdio, conn } => {
                ctx.close_conn(conn);
                ctx.close_conn(stdio);
            }
            State::Start { .. } | State::Done(_) => {}
        }
        ctx.stop();
        self.state = State::Done(outcome);
    }

    /// Sends every whole line stdin has given; at stdin's end, ends the sending side.
    fn pump(&mut self, ctx: &mut Context<'_>) {
        let State::Running { stdio, link, stdin_paused } = &mut self.state else { return };
        let (stdio, link) = (*stdio, *link);
        // The address being talked to: the only one (UDP), or the one connected to (TCP).
        let Some(server) = self.dial.current() else { return };
        loop {
            let line = match self.lines.pop() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    let why = format!("a line of stdin is too long to send ({e})");
                    return self.finish(ctx, Outcome::Failed(why));
                }
            };
            match link {
                Link::Udp { sock } => ctx.send_to(sock, server, line),
                Link::Tcp { conn } => {
                    ctx.write_to(conn, line);
                    ctx.write_to(conn, b"\n");
                }
            }
        }
        // Output queued before this turn's writes means a `drained` will follow.
        let backed_up = ctx.stats().pending_out.get() > WINDOW;
        if backed_up != *stdin_paused {
            *stdin_paused = backed_up;
            if backed_up { ctx.pause_reading(stdio) } else { ctx.resume_reading(stdio) }
        }
        if !self.lines.is_ended() {
            return;
        }
        match link {
            Link::Tcp { conn } => {
                ctx.shutdown_write_conn(conn);
                self.state = State::Draining { stdio, conn };
            }
            Link::Udp { .. } => {
                let timer = ctx.set_global_timer(self.wait, 0);
                self.state = State::Lingering { stdio, timer };
            }
        }
    }

    fn print(&mut self, ctx: &mut Context<'_>, from: SocketAddr, text: &[u8]) {
        let stdio = match self.state {
            State::Running { stdio, .. } | State::Lingering { stdio, .. } | State::Draining { stdio, .. } => {
                stdio
            }
            _ => return,
        };
        ctx.write_to(stdio, format!("from {from}: ").as_bytes());
        ctx.write_to(stdio, String::from_utf8_lossy(text).as_bytes());
        ctx.write_to(stdio, b"\n");
    }
}

impl Handler for RelayClient {
    type Conn = Side;

    fn connected(&mut self, ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Side {
        match (info.origin, &self.state) {
            (Origin::Stdio, State::Start { sock: Some(sock) }) => {
                self.state =
                    State::Running { stdio: id, link: Link::Udp { sock: *sock }, stdin_paused: false };
                Side::Stdio
            }
            (Origin::Stdio, State::Start { sock: None }) if self.udp => {
                // Only reachable if the caller forgot `use_socket`.
                self.finish(ctx, Outcome::Failed("no UDP socket to send from".into()));
                Side::Stdio
            }
            (Origin::Stdio, State::Start { sock: None }) => {
                ctx.pause_reading(id);
                self.state = State::Connecting { stdio: id };
                Side::Stdio
            }
            (Origin::Outbound(_), State::Connecting { stdio }) => {
                info!("connected to {}", info.peer);
                let stdio = *stdio;
                self.state = State::Running { stdio, link: Link::Tcp { conn: id }, stdin_paused: true };
                self.pump(ctx);
                Side::Tcp
            }
            (origin, state) => {
                debug!("unexpected {origin:?} connection in state {state:?}: closed");
                ctx.abort();
                if origin == Origin::Stdio { Side::Stdio } else { Side::Tcp }
            }
        }
    }

    fn data(&mut self, side: &mut Side, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        match (*side, &self.state) {
            (Side::Stdio, State::Running { .. }) => {
                self.lines.push(data);
                self.pump(ctx);
                data.len()
            }
            (Side::Stdio, State::Connecting { stdio }) => {
                ctx.pause_reading(*stdio);
                self.lines.push(data);
                data.len()
            }
            (Side::Tcp, _) => {
                let Some(server) = self.dial.current() else { return data.len() };
                let mut used = 0;
                while let Ok(Some((line, n))) = next_line(&data[used..], MAX_LINE) {
                    self.print(ctx, server, line);
                    used += n;
                }
                if data.len() - used > MAX_LINE {
                    // A line too long to wait for: print what there is of it.
                    self.print(ctx, server, &data[used..]);
                    used = data.len();
                }
                used
            }
            (Side::Stdio, _) => data.len(),
        }
    }

    fn eof(&mut self, side: &mut Side, ctx: &mut Context<'_>) {
        match side {
            Side::Stdio => {
                self.lines.end();
                self.pump(ctx);
            }
            Side::Tcp => self.finish(ctx, Outcome::Closed),
        }
    }

    fn datagram(&mut self, ctx: &mut Context<'_>, _sock: ConnId, from: SocketAddr, data: &[u8]) {
        self.print(ctx, from, data);
        if let State::Lingering { timer, .. } = &mut self.state {
            ctx.cancel_timer(*timer);
            *timer = ctx.set_global_timer(self.wait, 0);
        }
    }

    fn global_timer(&mut self, ctx: &mut Context<'_>, _key: u64) {
        if matches!(self.state, State::Lingering { .. }) {
            self.finish(ctx, Outcome::Closed);
        }
    }

    fn backlogged(&mut self, side: &mut Side, ctx: &mut Context<'_>, _queued: usize) {
        if let (Side::Stdio, State::Running { link: Link::Tcp { conn }, .. }) = (*side, &self.state) {
            ctx.pause_reading(*conn);
        }
    }

    fn drained(&mut self, side: &mut Side, ctx: &mut Context<'_>) {
        if let State::Running { link: Link::Tcp { conn }, .. } = self.state
            && *side == Side::Stdio
        {
            ctx.resume_reading(conn);
        }
        self.pump(ctx);
    }

    fn closed(&mut self, side: Side, ctx: &mut Context<'_>, _id: ConnId, reason: CloseReason) {
        if matches!(self.state, State::Done(_) | State::Start { .. }) {
            return;
        }
        let outcome = match (side, reason) {
            (Side::Tcp, CloseReason::Reset | CloseReason::Error) => Outcome::Lost(reason),
            _ => Outcome::Closed,
        };
        self.finish(ctx, outcome);
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{SentDatagram, TestTransport};

    fn server() -> SocketAddr {
        "127.0.0.1:9000".parse().unwrap()
    }

    fn udp() -> (TestTransport<RelayClient>, ConnId, ConnId) {
        let mut t = TestTransport::new(RelayClient::udp(server(), Duration::from_secs(1)));
        let sock = t.udp_socket();
        t.handler_mut().use_socket(sock);
        let stdio = t.open_stdio();
        assert!(!t.is_paused(stdio));
        (t, sock, stdio)
    }

    #[test]
    fn udp_lines_go_out_as_datagrams_and_replies_print_with_the_sender() {
        let (mut t, sock, stdio) = udp();
        t.feed(stdio, b"hii\nto:127.0.0.1/5;content:x\r\n");
        let sent: Vec<_> = t.take_datagrams().into_iter().map(|d| d.data).collect();
        assert_eq!(sent, [&b"hii"[..], b"to:127.0.0.1/5;content:x"]);
        t.datagram(sock, server(), b"('127.0.0.1', 50000)");
        assert_eq!(t.take_output(stdio), b"from 127.0.0.1:9000: ('127.0.0.1', 50000)\n");
        t.datagram(sock, server(), b"\xff");
        assert_eq!(t.take_output(stdio), "from 127.0.0.1:9000: \u{fffd}\n".as_bytes());
    }

    #[test]
    fn udp_after_stdin_ends_it_listens_until_quiet() {
        let (mut t, sock, stdio) = udp();
        t.feed(stdio, b"hii");
        t.eof(stdio);
        assert_eq!(t.take_datagrams(), [SentDatagram { sock, to: server(), data: b"hii".to_vec() }]);
        t.advance(Duration::from_millis(900));
        t.datagram(sock, server(), b"late");
        t.advance(Duration::from_millis(900));
        assert!(!t.stop_requested(), "the late datagram restarted the wait");
        assert_eq!(t.take_output(stdio), b"from 127.0.0.1:9000: late\n");
        t.advance(Duration::from_millis(100));
        assert!(t.stop_requested());
        assert!(matches!(t.handler().outcome(), Some(Outcome::Closed)));
    }

    #[test]
    fn tcp_lines_go_out_with_newlines_and_stdin_end_half_closes() {
        let mut t = TestTransport::new(RelayClient::tcp(vec![server()]));
        let stdio = t.open_stdio();
        assert!(t.is_paused(stdio));
        t.feed(stdio, b"name:alice\n");
        let tcp = t.complete_connect(TAG, server());
        assert_eq!(t.take_output(tcp), b"name:alice\n");
        t.feed(tcp, b"200, Name registered\n127.0.0.1/4 ; content : hi\npart");
        assert_eq!(
            t.take_output(stdio),
            b"from 127.0.0.1:9000: 200, Name registered\nfrom 127.0.0.1:9000: 127.0.0.1/4 ; content : hi\n"
        );
        t.feed(stdio, b"hii");
        t.eof(stdio);
        assert_eq!(t.take_output(tcp), b"hii\n");
        assert!(t.is_write_shut(tcp));
        assert!(!t.stop_requested());
        t.eof(tcp);
        assert!(t.stop_requested());
    }
}
