//! The chat client (`sockloop chat ADDR --nick NAME`): the `connect` bridge between stdin/
//! stdout and the server, which first introduces the user with `/nick NAME`. The server
//! does the rest, so the client prints whatever arrives, exactly as `nc` would.

use crate::protocols::connect::{Connect, Outcome, Side};
use crate::{CloseReason, ConnId, ConnInfo, Context, Handler, Origin};
use std::io;
use std::net::SocketAddr;

pub use crate::protocols::connect::TAG;

pub struct ChatClient {
    bridge: Connect,
    hello: Vec<u8>,
}

impl ChatClient {
    /// `addrs` are tried in order, as by [`Connect`]. The nick is sent as given: check it
    /// with [`super::nick::check`] first, since a newline in it would send two lines.
    pub fn new(addrs: Vec<SocketAddr>, nick: Option<&str>) -> ChatClient {
        let hello = nick.map(|n| format!("/nick {n}\n").into_bytes()).unwrap_or_default();
        ChatClient { bridge: Connect::new(addrs), hello }
    }

    /// `None` while the session is still running.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.bridge.outcome()
    }
}

impl Handler for ChatClient {
    type Conn = Side;

    fn connected(&mut self, ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Side {
        // Before anything typed early, which the bridge sends as it comes up.
        if matches!(info.origin, Origin::Outbound(_)) {
            ctx.write_to(id, &self.hello);
        }
        self.bridge.connected(ctx, id, info)
    }

    fn data(&mut self, side: &mut Side, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        self.bridge.data(side, ctx, data)
    }

    fn eof(&mut self, side: &mut Side, ctx: &mut Context<'_>) {
        self.bridge.eof(side, ctx)
    }

    fn drained(&mut self, side: &mut Side, ctx: &mut Context<'_>) {
        self.bridge.drained(side, ctx)
    }

    fn backlogged(&mut self, side: &mut Side, ctx: &mut Context<'_>, queued: usize) {
        self.bridge.backlogged(side, ctx, queued)
    }

    fn closed(&mut self, side: Side, ctx: &mut Context<'_>, id: ConnId, reason: CloseReason) {
        self.bridge.closed(side, ctx, id, reason)
    }

    fn connect_failed(&mut self, ctx: &mut Context<'_>, tag: u64, err: &io::Error) {
        self.bridge.connect_failed(ctx, tag, err)
    }

    fn stopping(&mut self, ctx: &mut Context<'_>) {
        self.bridge.stopping(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestTransport;

    #[test]
    fn the_nick_goes_first_then_what_was_typed_and_replies_are_printed() {
        let server = SocketAddr::from(([127, 0, 0, 1], 7000));
        let mut t = TestTransport::new(ChatClient::new(vec![server], Some("alice")));
        let stdio = t.open_stdio();
        t.feed(stdio, b"typed early\n");
        let tcp = t.complete_connect(TAG, server);
        assert_eq!(t.take_output(tcp), b"/nick alice\ntyped early\n");
        t.feed(tcp, b"* you are now alice\n");
        assert_eq!(t.take_output(stdio), b"* you are now alice\n");
        t.eof(tcp);
        assert!(t.stop_requested());
        assert!(matches!(t.handler().outcome(), Some(Outcome::Closed)));
    }
}
