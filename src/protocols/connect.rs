//! connect: the interactive client, like `nc -N`. It bridges the process's stdin/stdout
//! (one reactor "connection", `Origin::Stdio`) and one outbound TCP connection, so typing and
//! the server's replies are readiness events in the same loop and no second thread is needed.
//!
//! Start it in this order: `Reactor::add_stdio()`, then `Reactor::connect(addrs[0], TAG)`.
//! A host name often resolves to several addresses (`localhost` is `::1` and `127.0.0.1`);
//! as `nc` does, a refused connect moves on to the next one, and only the last error is
//! reported.
//!
//! stdin's EOF becomes a half-close (FIN) of the socket, and the server's replies are still
//! printed; the server closing ends the session. Bytes typed before the connect completes
//! are kept and sent first: stdin is paused while connecting, and whatever one read brought
//! in before the pause took effect waits in the state.
//!
//! Flow control needs nothing here: when one end's output queue backs up, the reactor
//! stops reading the connection that produced the bytes (the other end) until it drains.

use crate::{CloseReason, ConnId, ConnInfo, Context, Handler, Origin};
use log::{debug, info};
use std::io;
use std::net::SocketAddr;

/// The tag of this client's outbound connects.
pub const TAG: u64 = 0;

/// Which end of the bridge a reactor connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Stdio,
    Tcp,
}

/// How the session ended, for the exit status.
#[derive(Debug)]
pub enum Outcome {
    /// The server closed the connection, or a signal stopped us: a normal end.
    Closed,
    /// No address could be connected to; the error of the last attempt.
    ConnectFailed(io::Error),
    /// The connection broke (reset, error) rather than closing cleanly.
    Lost(CloseReason),
}

#[derive(Debug)]
enum State {
    /// Nothing is up yet.
    Start,
    /// stdin/stdout is up and the connect to `addrs[attempt]` is in progress.
    Connecting { stdio: ConnId, attempt: usize, early: Vec<u8>, stdin_eof: bool },
    /// Bytes flow both ways. After stdin's EOF only the server-to-stdout direction is left.
    Bridging { stdio: ConnId, tcp: ConnId },
    /// The session is over; stdout is being flushed and the reactor is stopping.
    Done(Outcome),
}

pub struct Connect {
    addrs: Vec<SocketAddr>,
    state: State,
}

impl Connect {
    /// `addrs` are tried in order; the caller starts the connect to the first one.
    pub fn new(addrs: Vec<SocketAddr>) -> Self {
        Connect { addrs, state: State::Start }
    }

    /// `None` while the session is still running.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.state {
            State::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// Ends the session: both ends close once what is queued for them is sent (stdout gets
    /// the server's last words), then the reactor stops.
    fn finish(&mut self, ctx: &mut Context<'_>, outcome: Outcome) {
        match self.state {
            State::Connecting { stdio, .. } => ctx.close_conn(stdio),
            State::Bridging { stdio, tcp } => {
                ctx.close_conn(tcp);
                ctx.close_conn(stdio);
            }
            State::Start | State::Done(_) => {}
        }
        ctx.stop();
        self.state = State::Done(outcome);
    }
}

impl Handler for Connect {
    type Conn = Side;

    fn connected(&mut self, ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Side {
        match (info.origin, std::mem::replace(&mut self.state, State::Start)) {
            (Origin::Stdio, State::Start) => {
                // Hold stdin back until there is somewhere to send it.
                ctx.pause_reading(id);
                self.state = State::Connecting { stdio: id, attempt: 0, early: Vec::new(), stdin_eof: false };
                Side::Stdio
            }
            (Origin::Outbound(_), State::Connecting { stdio, early, stdin_eof, .. }) => {
                info!("connected to {}", info.peer);
                ctx.write_to(id, &early);
                if stdin_eof {
                    ctx.shutdown_write_conn(id);
                } else {
                    ctx.resume_reading(stdio);
                }
                self.state = State::Bridging { stdio, tcp: id };
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
        match (&mut self.state, *side) {
            (State::Connecting { stdio, early, .. }, Side::Stdio) => {
                // The pause asked for in `connected` may not have been applied before this read.
                early.extend_from_slice(data);
                ctx.pause_reading(*stdio);
            }
            (State::Bridging { tcp, .. }, Side::Stdio) => ctx.write_to(*tcp, data),
            (State::Bridging { stdio, .. }, Side::Tcp) => ctx.write_to(*stdio, data),
            // Late bytes after the session ended have nowhere to go.
            _ => {}
        }
        data.len()
    }

    fn eof(&mut self, side: &mut Side, ctx: &mut Context<'_>) {
        match (&mut self.state, *side) {
            (State::Connecting { stdin_eof, .. }, Side::Stdio) => *stdin_eof = true,
            (State::Bridging { tcp, .. }, Side::Stdio) => ctx.shutdown_write_conn(*tcp),
            (State::Bridging { .. }, Side::Tcp) => self.finish(ctx, Outcome::Closed),
            _ => {}
        }
    }

    fn closed(&mut self, side: Side, ctx: &mut Context<'_>, _id: ConnId, reason: CloseReason) {
        if matches!(self.state, State::Done(_) | State::Start) {
            return;
        }
        let outcome = match (side, reason) {
            (Side::Tcp, CloseReason::Reset | CloseReason::Error) => Outcome::Lost(reason),
            // Stopped by a signal, or stdout went away (`| head`): nothing left to do.
            _ => Outcome::Closed,
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
        let State::Connecting { attempt, .. } = &mut self.state else { return };
        let failed = self.addrs.get(*attempt).copied();
        *attempt += 1;
        match self.addrs.get(*attempt) {
            Some(next) => {
                info!("connect to {failed:?} failed ({err}); trying {next}");
                ctx.connect(*next, tag);
            }
            None => {
                let err = io::Error::new(err.kind(), err.to_string());
                self.finish(ctx, Outcome::ConnectFailed(err));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestTransport;

    fn server() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 7000))
    }

    /// stdin/stdout and a completed connect, as `sockloop connect` sets them up.
    fn bridged() -> (TestTransport<Connect>, ConnId, ConnId) {
        let mut t = TestTransport::new(Connect::new(vec![server()]));
        let stdio = t.open_stdio();
        assert!(t.is_paused(stdio), "stdin waits for the connection");
        let tcp = t.complete_connect(TAG, server());
        assert!(!t.is_paused(stdio));
        (t, stdio, tcp)
    }

    #[test]
    fn bytes_flow_both_ways() {
        let (mut t, stdio, tcp) = bridged();
        t.feed(stdio, b"hello\n");
        assert_eq!(t.take_output(tcp), b"hello\n");
        t.feed(tcp, b"HELLO\n");
        assert_eq!(t.take_output(stdio), b"HELLO\n");
        assert_eq!(t.take_output(tcp), b"", "nothing echoed back to the server");
        assert!(t.handler().outcome().is_none());
    }

    #[test]
    fn stdin_eof_half_closes_and_replies_still_print() {
        let (mut t, stdio, tcp) = bridged();
        t.feed(stdio, b"last line\n");
        t.eof(stdio);
        assert!(t.is_write_shut(tcp));
        assert_eq!(t.closed(tcp), None, "still reading the server");
        t.feed(tcp, b"reply after our FIN");
        assert_eq!(t.take_output(stdio), b"reply after our FIN");
        assert!(!t.stop_requested());
    }

    #[test]
    fn server_close_flushes_stdout_and_stops() {
        let (mut t, stdio, tcp) = bridged();
        t.feed(tcp, b"bye");
        t.eof(tcp);
        assert_eq!(t.output(stdio), b"bye");
        assert!(t.closed(stdio).is_some());
        assert!(t.closed(tcp).is_some());
        assert!(t.stop_requested());
        assert!(matches!(t.handler().outcome(), Some(Outcome::Closed)));
    }

    #[test]
    fn stdin_before_the_connect_is_sent_once_connected() {
        let mut t = TestTransport::new(Connect::new(vec![server()]));
        let stdio = t.open_stdio();
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
    fn a_reset_is_reported_as_lost() {
        let (mut t, stdio, tcp) = bridged();
        t.reset(tcp);
        assert!(t.closed(stdio).is_some());
        assert!(t.stop_requested());
        assert!(matches!(t.handler().outcome(), Some(Outcome::Lost(CloseReason::Reset))));
    }

    #[test]
    fn a_stop_while_connecting_ends_the_session_without_trying_the_next_address() {
        let other = SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 7000));
        let mut t = TestTransport::new(Connect::new(vec![server(), other]));
        let stdio = t.open_stdio();
        t.stop();
        assert!(matches!(t.handler().outcome(), Some(Outcome::Closed)));
        assert!(t.closed(stdio).is_some());
        t.fail_connect(TAG, &io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(t.take_connects().is_empty(), "no new connect while stopping");
    }

    #[test]
    fn a_refused_address_moves_on_to_the_next_then_reports_the_last_error() {
        let other = SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 7000));
        let mut t = TestTransport::new(Connect::new(vec![other, server()]));
        let stdio = t.open_stdio();
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
}
