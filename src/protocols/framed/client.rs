//! The interactive framed client: each stdin line goes out as one frame, each reply's text
//! is printed on a line of its own.
//!
//! stdin is a reactor source like the socket (`Reactor::add_stdio`, then
//! `Reactor::connect(first address, TAG)`), so no thread waits on either. A line that is
//! exactly `Disconnect !` is the last one sent: the session ends once it is answered (the
//! server closes then too). When stdin simply ends, the client waits for the replies it is
//! owed and then closes; with no input at all it connects, sends nothing and closes, which
//! is what `nc` does with an empty pipe.
//!
//! Frames are pipelined but bounded: at most [`WINDOW`] may wait for their replies, and
//! stdin is not read meanwhile, so a long file on stdin never piles up in memory.

use super::DISCONNECT;
use super::codec::Codec;
use crate::protocols::dial::{Dial, Outcome};
use crate::protocols::lines::LineBuf;
use crate::{CloseReason, ConnId, ConnInfo, Context, Handler, Origin};
use log::{debug, info, warn};
use std::io;
use std::net::SocketAddr;

/// The tag of this client's outbound connects.
pub const TAG: u64 = 0;

/// Frames sent and not answered yet, above which stdin waits.
pub const WINDOW: usize = 64;

/// Which end of the session a reactor connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Stdio,
    Tcp,
}

#[derive(Debug)]
enum State {
    Start,
    /// stdin is up (and paused) while the connect to the current address is under way.
    Connecting {
        stdio: ConnId,
    },
    Talking {
        stdio: ConnId,
        tcp: ConnId,
        /// Frames sent whose replies have not arrived.
        owed: usize,
        /// `Disconnect !` went out: nothing more is sent.
        said_bye: bool,
        stdin_paused: bool,
    },
    Done(Outcome),
}

pub struct FramedClient {
    codec: Codec,
    dial: Dial,
    lines: LineBuf,
    /// One frame being encoded, kept to save an allocation per line.
    frame: Vec<u8>,
    state: State,
}

impl FramedClient {
    /// `addrs` are tried in order; the caller starts the connect to the first one.
    pub fn new(codec: Codec, addrs: Vec<SocketAddr>) -> Self {
        FramedClient {
            lines: LineBuf::new(codec.max_frame()),
            codec,
            dial: Dial::new(addrs),
            frame: Vec::new(),
            state: State::Start,
        }
    }

    /// `None` while the session is still running.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.state {
            State::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    fn finish(&mut self, ctx: &mut Context<'_>, outcome: Outcome) {
        match self.state {
            State::Connecting { stdio } => ctx.close_conn(stdio),
            State::Talking { stdio, tcp, .. } => {
                ctx.close_conn(tcp);
                ctx.close_conn(stdio);
            }
            State::Start | State::Done(_) => {}
        }
        ctx.stop();
        self.state = State::Done(outcome);
    }

    /// Sends the lines the window allows, pauses or resumes stdin to match, and ends the
    /// session once nothing more will be sent and every reply is in.
    fn pump(&mut self, ctx: &mut Context<'_>) {
        let State::Talking { stdio, tcp, owed, said_bye, stdin_paused } = &mut self.state else { return };
        let mut failure = None;
        while !*said_bye && *owed < WINDOW {
            let line = match self.lines.pop() {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    failure = Some(format!("a line of stdin is too long for one frame ({e})"));
                    break;
                }
            };
            self.frame.clear();
            if let Err(e) = self.codec.encode(line, &mut self.frame) {
                failure = Some(format!("cannot send a line of stdin: {e}"));
                break;
            }
            ctx.write_to(*tcp, &self.frame);
            *owed += 1;
            *said_bye = line == DISCONNECT;
        }
        if let Some(why) = failure {
            return self.finish(ctx, Outcome::Failed(why));
        }
        let want_stdin = !*said_bye && !self.lines.is_ended() && *owed < WINDOW && !self.lines.has_line();
        if want_stdin == *stdin_paused {
            *stdin_paused = !want_stdin;
            if want_stdin { ctx.resume_reading(*stdio) } else { ctx.pause_reading(*stdio) }
        }
        let nothing_more = *said_bye || (self.lines.is_ended() && !self.lines.has_line());
        if nothing_more && *owed == 0 {
            self.finish(ctx, Outcome::Closed);
        }
    }

    /// Prints every whole reply in `data`; returns the bytes they took.
    fn replies(&mut self, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        let State::Talking { stdio, owed, .. } = &mut self.state else { return data.len() };
        let mut used = 0;
        loop {
            match self.codec.decode(&data[used..]) {
                Ok(Some(frame)) => {
                    used += frame.consumed;
                    ctx.write_to(*stdio, frame.payload);
                    ctx.write_to(*stdio, b"\n");
                    *owed = owed.saturating_sub(1);
                }
                Ok(None) => break,
                Err(e) => {
                    self.finish(ctx, Outcome::Failed(format!("bad reply from the server: {e}")));
                    return data.len();
                }
            }
        }
        self.pump(ctx);
        used
    }
}

impl Handler for FramedClient {
    type Conn = Side;

    fn connected(&mut self, ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Side {
        match (info.origin, &self.state) {
            (Origin::Stdio, State::Start) => {
                // Hold stdin back until there is somewhere to send it.
                ctx.pause_reading(id);
                self.state = State::Connecting { stdio: id };
                Side::Stdio
            }
            (Origin::Outbound(_), State::Connecting { stdio }) => {
                info!("connected to {}", info.peer);
                let stdio = *stdio;
                self.state = State::Talking { stdio, tcp: id, owed: 0, said_bye: false, stdin_paused: true };
                self.pump(ctx);
                Side::Tcp
            }
            (origin, state) => {
                // Only reachable if the caller wires it up in the wrong order or twice.
                debug!("unexpected {origin:?} connection in state {state:?}: closed");
                ctx.abort();
                if origin == Origin::Stdio { Side::Stdio } else { Side::Tcp }
            }
        }
    }

    fn data(&mut self, side: &mut Side, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        match (*side, &self.state) {
            (Side::Tcp, _) => self.replies(ctx, data),
            (Side::Stdio, State::Talking { said_bye: false, .. }) => {
                self.lines.push(data);
                self.pump(ctx);
                data.len()
            }
            (Side::Stdio, State::Connecting { stdio }) => {
                // The pause asked for in `connected` may not have been applied before this read.
                ctx.pause_reading(*stdio);
                self.lines.push(data);
                data.len()
            }
            // After `Disconnect !`, or once the session is over, stdin has nowhere to go.
            (Side::Stdio, _) => data.len(),
        }
    }

    fn eof(&mut self, side: &mut Side, ctx: &mut Context<'_>) {
        match side {
            Side::Stdio => {
                self.lines.end();
                self.pump(ctx);
            }
            Side::Tcp => {
                if let State::Talking { owed: owed @ 1.., said_bye: false, .. } = self.state {
                    warn!("the server closed the connection with {owed} frames unanswered");
                }
                self.finish(ctx, Outcome::Closed);
            }
        }
    }

    /// stdout cannot keep up with the replies: stop reading them until it drains.
    fn backlogged(&mut self, side: &mut Side, ctx: &mut Context<'_>, _queued: usize) {
        if let (Side::Stdio, State::Talking { tcp, .. }) = (*side, &self.state) {
            ctx.pause_reading(*tcp);
        }
    }

    fn drained(&mut self, side: &mut Side, ctx: &mut Context<'_>) {
        if let (Side::Stdio, State::Talking { tcp, .. }) = (*side, &self.state) {
            ctx.resume_reading(*tcp);
        }
    }

    fn closed(&mut self, side: Side, ctx: &mut Context<'_>, _id: ConnId, reason: CloseReason) {
        if matches!(self.state, State::Done(_) | State::Start) {
            return;
        }
        let outcome = match (side, reason) {
            (Side::Tcp, CloseReason::Reset | CloseReason::Error) => Outcome::Lost(reason),
            (Side::Tcp, CloseReason::InputOverflow) => {
                Outcome::Failed("the server sent a reply longer than --max-frame".into())
            }
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
    use crate::protocols::framed::REPLY;
    use crate::testing::TestTransport;

    fn server() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 7000))
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        Codec::default().encode(payload, &mut f).unwrap();
        f
    }

    fn session() -> (TestTransport<FramedClient>, ConnId, ConnId) {
        let mut t = TestTransport::new(FramedClient::new(Codec::default(), vec![server()]));
        let stdio = t.open_stdio();
        assert!(t.is_paused(stdio), "stdin waits for the connection");
        let tcp = t.complete_connect(TAG, server());
        assert!(!t.is_paused(stdio));
        (t, stdio, tcp)
    }

    #[test]
    fn each_line_is_one_frame_and_each_reply_one_printed_line() {
        let (mut t, stdio, tcp) = session();
        t.feed(stdio, b"Hello, this is Prashanth !\nConnection");
        assert_eq!(t.take_output(tcp), frame(b"Hello, this is Prashanth !"));
        t.feed(stdio, b" Success !\r\n");
        assert_eq!(t.take_output(tcp), frame(b"Connection Success !"));
        let mut replies = frame(REPLY);
        replies.extend_from_slice(&frame(REPLY)[..70]);
        t.feed(tcp, &replies);
        assert_eq!(t.take_output(stdio), b"Message received successfully....\n");
        t.feed(tcp, &frame(REPLY)[70..]);
        assert_eq!(t.take_output(stdio), b"Message received successfully....\n");
        assert!(t.handler().outcome().is_none());
    }

    #[test]
    fn disconnect_is_the_last_line_sent_and_its_reply_ends_the_session() {
        let (mut t, stdio, tcp) = session();
        t.feed(stdio, b"Disconnect !\nnot sent\n");
        assert_eq!(t.take_output(tcp), frame(DISCONNECT));
        assert!(t.is_paused(stdio));
        t.feed(tcp, &frame(REPLY));
        assert_eq!(t.output(stdio), b"Message received successfully....\n");
        assert!(t.stop_requested());
        assert!(matches!(t.handler().outcome(), Some(Outcome::Closed)));
    }

    #[test]
    fn at_the_end_of_stdin_the_last_line_goes_out_and_the_replies_are_awaited() {
        let (mut t, stdio, tcp) = session();
        t.feed(stdio, b"one\ntwo");
        t.eof(stdio);
        assert_eq!(t.take_output(tcp), [frame(b"one"), frame(b"two")].concat());
        assert!(!t.stop_requested(), "two replies are owed");
        t.feed(tcp, &frame(b"r1"));
        assert!(!t.stop_requested());
        t.feed(tcp, &frame(b"r2"));
        assert_eq!(t.output(stdio), b"r1\nr2\n");
        assert!(t.stop_requested());
        assert!(t.closed(tcp).is_some());
    }

    #[test]
    fn empty_stdin_connects_sends_nothing_and_closes() {
        let mut t = TestTransport::new(FramedClient::new(Codec::default(), vec![server()]));
        let stdio = t.open_stdio();
        t.eof(stdio);
        let tcp = t.complete_connect(TAG, server());
        assert_eq!(t.take_output(tcp), b"");
        assert!(t.closed(tcp).is_some());
        assert!(matches!(t.handler().outcome(), Some(Outcome::Closed)));
    }

    #[test]
    fn an_empty_line_is_a_zero_length_frame() {
        let (mut t, stdio, tcp) = session();
        t.feed(stdio, b"\n");
        assert_eq!(t.take_output(tcp), frame(b""));
    }

    #[test]
    fn stdin_waits_while_a_window_of_frames_is_unanswered() {
        let (mut t, stdio, tcp) = session();
        t.feed(stdio, &b"x\n".repeat(WINDOW + 3));
        assert_eq!(t.take_output(tcp), frame(b"x").repeat(WINDOW));
        assert!(t.is_paused(stdio));
        t.feed(tcp, &frame(REPLY));
        assert_eq!(t.take_output(tcp), frame(b"x"));
        assert!(t.is_paused(stdio), "two lines are still waiting");
        t.feed(tcp, &frame(REPLY).repeat(2));
        assert_eq!(t.take_output(tcp), frame(b"x").repeat(2));
        assert!(t.is_paused(stdio), "the window is full again");
        t.feed(tcp, &frame(REPLY));
        assert!(!t.is_paused(stdio));
    }

    #[test]
    fn a_bad_reply_header_fails_the_session() {
        let (mut t, stdio, tcp) = session();
        t.feed(stdio, b"hi\n");
        t.feed(tcp, format!("{:<64}", "nope").as_bytes());
        assert!(t.stop_requested());
        assert!(t.closed(stdio).is_some());
        match t.handler().outcome() {
            Some(Outcome::Failed(why)) => assert!(why.contains("not a length"), "{why}"),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn the_server_closing_ends_the_session() {
        let (mut t, _stdio, tcp) = session();
        t.eof(tcp);
        assert!(t.stop_requested());
        assert!(matches!(t.handler().outcome(), Some(Outcome::Closed)));
    }
}
