//! The interactive framed client: each stdin line goes out as one frame, each reply's text
//! is printed on a line of its own. The [`Session`] around it bridges stdin and the socket.
//!
//! A line that is exactly `Disconnect !` is the last one sent: the session ends once it is
//! answered (the server closes then too). When stdin simply ends, the client waits for the
//! replies it is owed and then closes; with no input at all it connects, sends nothing and
//! closes, which is what `nc` does with an empty pipe.
//!
//! Frames are pipelined but bounded: at most [`WINDOW`] may wait for their replies, and
//! stdin is not read meanwhile, so a long file on stdin never piles up in memory.
//!
//! [`Session`]: crate::protocols::session::Session

use super::DISCONNECT;
use super::codec::Codec;
use crate::protocols::lines::{Line, LineBuf, TooLong};
use crate::protocols::session::{Client, Io, Outcome};
use crate::{CloseReason, Context};
use log::warn;

/// Frames sent and not answered yet, above which stdin waits.
pub const WINDOW: usize = 64;

pub struct FramedClient {
    codec: Codec,
    lines: LineBuf,
    /// One frame being encoded, kept to save an allocation per line.
    frame: Vec<u8>,
    /// Frames sent whose replies have not arrived.
    owed: usize,
    /// `Disconnect !` went out: nothing more is sent.
    said_bye: bool,
}

impl FramedClient {
    pub fn new(codec: Codec) -> Self {
        FramedClient {
            lines: LineBuf::new(codec.max_frame()),
            codec,
            frame: Vec::new(),
            owed: 0,
            said_bye: false,
        }
    }

    /// Sends the lines the window allows, and ends the session once nothing more will be
    /// sent and every reply is in.
    fn pump(&mut self, io: &mut Io<'_, '_>) {
        while !self.said_bye && self.owed < WINDOW {
            let line = match self.lines.pop() {
                Some(Line::Text(line)) => line,
                Some(Line::TooLong) => {
                    let e = TooLong { max: self.codec.max_frame() };
                    let why = format!("a line of stdin is too long for one frame ({e})");
                    return io.finish(Outcome::Failed(why));
                }
                None => break,
            };
            self.frame.clear();
            if let Err(e) = self.codec.encode(line, &mut self.frame) {
                return io.finish(Outcome::Failed(format!("cannot send a line of stdin: {e}")));
            }
            io.send(&self.frame);
            self.owed += 1;
            self.said_bye = line == DISCONNECT;
        }
        let nothing_more = self.said_bye || (self.lines.is_ended() && !self.lines.has_line());
        if nothing_more && self.owed == 0 {
            io.finish(Outcome::Closed);
        }
    }
}

impl Client for FramedClient {
    fn input(&mut self, io: &mut Io<'_, '_>, data: &[u8]) {
        // After `Disconnect !`, stdin has nowhere to go.
        if !self.said_bye {
            self.lines.push(data);
            self.pump(io);
        }
    }

    fn input_ended(&mut self, io: &mut Io<'_, '_>) {
        self.lines.end();
        self.pump(io);
    }

    fn wants_input(&self, _ctx: &Context<'_>) -> bool {
        !self.said_bye && self.owed < WINDOW && !self.lines.has_line()
    }

    /// Prints every whole reply in `data`; returns the bytes they took.
    fn received(&mut self, io: &mut Io<'_, '_>, data: &[u8]) -> usize {
        let mut used = 0;
        loop {
            match self.codec.decode(&data[used..]) {
                Ok(Some(frame)) => {
                    used += frame.consumed;
                    io.print(frame.payload);
                    io.print(b"\n");
                    self.owed = self.owed.saturating_sub(1);
                }
                Ok(None) => break,
                Err(e) => {
                    io.finish(Outcome::Failed(format!("bad reply from the server: {e}")));
                    return data.len();
                }
            }
        }
        self.pump(io);
        used
    }

    /// A reply cut short is the server breaking the protocol, like a bad header: the
    /// session fails rather than end as if every reply had come.
    fn server_closed(&mut self, io: &mut Io<'_, '_>, rest: &[u8]) {
        if let Some(cut) = self.codec.truncated(rest) {
            io.finish(Outcome::Failed(format!("bad reply from the server: {cut}")));
        } else if self.owed > 0 && !self.said_bye {
            warn!("the server closed the connection with {} frames unanswered", self.owed);
        }
    }

    fn lost(&self, reason: CloseReason) -> Outcome {
        match reason {
            CloseReason::Reset | CloseReason::Error => Outcome::Lost(reason),
            CloseReason::InputOverflow => {
                Outcome::Failed("the server sent a reply longer than --max-frame".into())
            }
            _ => Outcome::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnId;
    use crate::protocols::framed::REPLY;
    use crate::protocols::session::{Session, TAG, connected};
    use crate::testing::TestTransport;
    use std::net::SocketAddr;

    fn server() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 7000))
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        Codec::default().encode(payload, &mut f).unwrap();
        f
    }

    fn session() -> (TestTransport<Session<FramedClient>>, ConnId, ConnId) {
        connected(FramedClient::new(Codec::default()), server())
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
        let mut t = TestTransport::new(Session::tcp(FramedClient::new(Codec::default()), vec![server()]));
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
    fn a_reply_cut_short_by_the_servers_close_fails_the_session() {
        let (mut t, stdio, tcp) = session();
        t.feed(stdio, b"one\ntwo\n");
        let reply = frame(REPLY);
        t.feed(tcp, &[&reply[..], &reply[..70]].concat());
        t.eof(tcp);
        assert_eq!(t.output(stdio), b"Message received successfully....\n", "the whole reply is printed");
        assert!(t.stop_requested());
        match t.handler().outcome() {
            Some(Outcome::Failed(why)) => assert_eq!(
                why,
                "bad reply from the server: the stream ended inside a frame (6 of 33 payload bytes)"
            ),
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
