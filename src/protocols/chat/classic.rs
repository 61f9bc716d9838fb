//! The classic console chat, byte for byte (`sockloop serve chat --classic`): a client
//! talks to the person at the server's console, turn by turn.
//!
//! - A client's message is one read (the classic client is lock-step: one `send()`, then
//!   it waits for the reply). It is shown on the server's stdout as `Client says: <text>`
//!   and a newline, which is the console's, never the wire's.
//! - Each line typed on the server's stdin (or read from a pipe or file, one line a reply)
//!   is the reply: sent bare, without its `\n`, and nothing else ever goes to the client:
//!   no notices, no prefixes. Empty console lines are skipped: sending nothing would
//!   leave the classic client waiting for a reply forever.
//! - The message exactly `BYE` ends the client's session: the server closes it.
//!
//! **Many clients.** The classic server served one client and exited; this one serves any
//! number, and the rule is *replies answer messages in the order the messages arrived*.
//! The console sees `Client says:` lines in order and answers them in order; each console
//! line goes to the client whose message is the oldest unanswered one. A lone lock-step
//! client therefore gets exactly the classic exchange, and with several nobody's message
//! is answered out of turn or waits behind a client that went quiet. Console lines read
//! ahead of any message (a piped file) wait for the next messages, in order.
//!
//! Bounds: a client may have at most [`MAX_UNANSWERED`] messages waiting (a lock-step
//! client has one) or it is closed; stdin is not read while [`MAX_READ_AHEAD`] replies
//! are waiting for messages; lines longer than the line limit are skipped (and logged).

use crate::protocols::lines::{Line, LineBuf};
use crate::{CloseReason, ConnId, ConnInfo, Context, Handler, Origin};
use log::{info, warn};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

/// Unanswered messages one client may have before it is closed as not lock-step.
pub const MAX_UNANSWERED: usize = 64;

/// Console lines read ahead of the messages they will answer before stdin is paused.
pub const MAX_READ_AHEAD: usize = 1024;

/// One connection's part in the exchange.
#[derive(Debug)]
pub enum Side {
    /// The server's stdin, split into replies (its last line may lack a `\n`).
    Console(LineBuf),
    Client(SocketAddr),
}

#[derive(Debug)]
pub struct Classic {
    max_line: usize,
    console: Option<ConnId>,
    /// Console lines not sent yet, oldest first.
    replies: VecDeque<Vec<u8>>,
    /// One entry per unanswered message, oldest first.
    waiting: VecDeque<ConnId>,
    /// How many entries each client has in `waiting`.
    unanswered: HashMap<ConnId, usize>,
    stdin_paused: bool,
    /// stdout fell behind: `Client says:` lines are counted instead of shown.
    muted: bool,
    hidden: u64,
}

impl Default for Classic {
    fn default() -> Self {
        Classic::new(super::MAX_LINE)
    }
}

impl Classic {
    /// Console lines longer than `max_line` bytes are skipped.
    pub fn new(max_line: usize) -> Classic {
        Classic {
            max_line,
            console: None,
            replies: VecDeque::new(),
            waiting: VecDeque::new(),
            unanswered: HashMap::new(),
            stdin_paused: false,
            muted: false,
            hidden: 0,
        }
    }

    /// Messages still waiting for a console line.
    pub fn unanswered(&self) -> usize {
        self.waiting.len()
    }

    /// Console lines still waiting for a message.
    pub fn read_ahead(&self) -> usize {
        self.replies.len()
    }

    /// Pairs waiting messages with waiting console lines, oldest with oldest.
    fn answer(&mut self, ctx: &mut Context<'_>) {
        while !self.replies.is_empty()
            && let Some(client) = self.waiting.pop_front()
            && let Some(reply) = self.replies.pop_front()
        {
            if let Some(n) = self.unanswered.get_mut(&client) {
                *n -= 1;
                if *n == 0 {
                    self.unanswered.remove(&client);
                }
            }
            ctx.write_to(client, &reply);
        }
        if self.stdin_paused
            && self.replies.len() < MAX_READ_AHEAD / 2
            && let Some(console) = self.console
        {
            self.stdin_paused = false;
            ctx.resume_reading(console);
        }
    }

    fn console_line(&mut self, line: Line<'_>) {
        match line {
            Line::Text([]) => {}
            Line::Text(reply) => self.replies.push_back(reply.to_vec()),
            Line::TooLong => warn!("console line longer than {} bytes: skipped", self.max_line),
        }
    }
}

impl Handler for Classic {
    type Conn = Side;

    fn connected(&mut self, _ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Side {
        if info.origin == Origin::Stdio {
            self.console = Some(id);
            return Side::Console(LineBuf::new(self.max_line));
        }
        Side::Client(info.peer)
    }

    fn data(&mut self, side: &mut Side, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        let Some(id) = ctx.id() else { return data.len() };
        match side {
            Side::Console(input) => {
                input.push(data);
                while let Some(line) = input.pop() {
                    self.console_line(line);
                }
                if self.replies.len() >= MAX_READ_AHEAD && !self.stdin_paused {
                    self.stdin_paused = true;
                    ctx.pause_reading(id);
                }
            }
            Side::Client(peer) if data == b"BYE" => {
                info!("{peer} ({id}): BYE");
                ctx.close();
            }
            Side::Client(peer) => {
                let n = self.unanswered.entry(id).or_default();
                if *n == MAX_UNANSWERED {
                    warn!("{peer} ({id}): {n} messages unanswered, not a lock-step client: closing");
                    ctx.abort();
                    return data.len();
                }
                *n += 1;
                self.waiting.push_back(id);
                match self.console {
                    Some(console) if !self.muted => {
                        ctx.write_to(console, b"Client says: ");
                        ctx.write_to(console, String::from_utf8_lossy(data).as_bytes());
                        ctx.write_to(console, b"\n");
                    }
                    _ => self.hidden += 1,
                }
            }
        }
        self.answer(ctx);
        data.len()
    }

    /// A client's EOF closes it; the console's means no more replies will be typed, but
    /// the lines already read still answer messages. Nothing is ever left over: a client's
    /// read is a whole message, and the console's bytes are all taken into its `LineBuf`.
    fn eof(&mut self, side: &mut Side, ctx: &mut Context<'_>, _rest: &[u8]) {
        match side {
            Side::Console(input) => {
                input.end();
                while let Some(line) = input.pop() {
                    self.console_line(line);
                }
                info!("console input ended: {} replies left to send", self.replies.len());
                self.answer(ctx);
            }
            Side::Client(_) => ctx.close(),
        }
    }

    fn backlogged(&mut self, side: &mut Side, _ctx: &mut Context<'_>, _queued: usize) {
        if let Side::Console(_) = side {
            warn!("stdout is not keeping up: client messages are not shown until it does");
            self.muted = true;
        }
    }

    fn drained(&mut self, side: &mut Side, ctx: &mut Context<'_>) {
        if let Side::Console(_) = side
            && std::mem::replace(&mut self.muted, false)
        {
            let hidden = std::mem::take(&mut self.hidden);
            ctx.write(format!("({hidden} client messages were not shown: stdout fell behind)\n").as_bytes());
        }
    }

    fn closed(&mut self, side: Side, _ctx: &mut Context<'_>, id: ConnId, _reason: CloseReason) {
        match side {
            Side::Console(_) => self.console = None,
            // Its unanswered messages are withdrawn: the next console line answers the next
            // client's message instead of vanishing into a closed connection.
            Side::Client(_) => {
                if self.unanswered.remove(&id).is_some() {
                    self.waiting.retain(|&w| w != id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestTransport;

    fn classic() -> (TestTransport<Classic>, ConnId) {
        let mut t = TestTransport::new(Classic::default());
        let console = t.open_stdio();
        (t, console)
    }

    #[test]
    fn the_classic_exchange_bare_both_ways_and_bye_closes() {
        let (mut t, console) = classic();
        let c = t.accept();
        assert_eq!(t.take_output(c), b"", "nothing is sent on connect");
        t.feed(c, b"hello");
        assert_eq!(t.take_output(console), b"Client says: hello\n");
        t.feed(console, b"hi there\n");
        assert_eq!(t.take_output(c), b"hi there", "the reply is bare: no newline");
        t.feed(c, b"how are you?");
        assert_eq!(t.take_output(console), b"Client says: how are you?\n");
        t.feed(console, b"fine\r\n");
        assert_eq!(t.take_output(c), b"fine");
        t.feed(c, b"BYE");
        assert_eq!(t.closed(c), Some(CloseReason::Local));
        assert_eq!(t.take_output(c), b"");
        assert_eq!(t.take_output(console), b"", "BYE is not a message to answer");
        assert_eq!(t.closed(console), None);
    }

    #[test]
    fn a_chunk_is_one_message_newlines_and_all() {
        let (mut t, console) = classic();
        let c = t.accept();
        t.feed(c, b"two\nlines");
        assert_eq!(t.take_output(console), b"Client says: two\nlines\n");
        t.feed(c, b"BYE\n");
        assert_eq!(t.closed(c), None, "only the exact chunk BYE ends the session");
        assert_eq!(t.handler().unanswered(), 2);
    }

    #[test]
    fn piped_console_lines_wait_for_messages_one_each_and_empty_ones_are_skipped() {
        let (mut t, console) = classic();
        t.feed(console, b"one\n\ntwo\nthree");
        t.eof(console);
        assert_eq!(t.handler().read_ahead(), 3);
        let c = t.accept();
        for (msg, reply) in [(&b"a"[..], &b"one"[..]), (b"b", b"two"), (b"c", b"three")] {
            t.feed(c, msg);
            assert_eq!(t.take_output(c), reply);
        }
        t.feed(c, b"d");
        assert_eq!(t.take_output(c), b"", "no console line left for it");
        assert_eq!(t.handler().unanswered(), 1);
    }

    #[test]
    fn replies_answer_messages_in_the_order_they_arrived() {
        let (mut t, console) = classic();
        let (a, b, c) = (t.accept(), t.accept(), t.accept());
        t.feed(a, b"from a");
        t.feed(b, b"from b");
        t.feed(c, b"from c");
        assert_eq!(
            t.take_output(console),
            b"Client says: from a\nClient says: from b\nClient says: from c\n"
        );
        t.feed(console, b"to a\n");
        assert_eq!(t.take_output(a), b"to a");
        t.reset(b);
        t.feed(console, b"to c\n");
        assert_eq!(t.take_output(c), b"to c", "b left: its turn goes to the next message");
        assert_eq!(t.handler().unanswered(), 0);
    }

    #[test]
    fn invalid_utf8_is_shown_with_replacement_characters() {
        let (mut t, console) = classic();
        let c = t.accept();
        t.feed(c, b"caf\xe9");
        assert_eq!(String::from_utf8(t.take_output(console)).unwrap(), "Client says: caf\u{fffd}\n");
    }

    #[test]
    fn a_client_that_is_not_lock_step_is_closed_at_the_limit() {
        let (mut t, _console) = classic();
        let c = t.accept();
        for _ in 0..MAX_UNANSWERED {
            t.feed(c, b"again");
        }
        assert_eq!(t.closed(c), None);
        t.feed(c, b"once more");
        assert_eq!(t.closed(c), Some(CloseReason::Local));
        assert_eq!(t.handler().unanswered(), 0);
    }

    #[test]
    fn stdin_is_paused_while_too_many_replies_wait() {
        let (mut t, console) = classic();
        t.feed(console, "r\n".repeat(MAX_READ_AHEAD).as_bytes());
        assert!(t.is_paused(console));
        let c = t.accept();
        for _ in 0..=MAX_READ_AHEAD / 2 {
            t.feed(c, b"m");
        }
        assert!(!t.is_paused(console));
    }
}
