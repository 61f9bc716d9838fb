//! The chat client (`sockloop chat ADDR --nick NAME`): the `connect` bridge between stdin/
//! stdout and the server, which first introduces the user with `/nick NAME`. The server
//! does the rest, so the client prints whatever arrives, exactly as `nc` would.

use crate::protocols::connect::{Bridge, Connect};
use std::net::SocketAddr;

/// `addrs` are tried in order. The nick is sent as given: check it with
/// [`super::nick::check`] first, since a newline in it would send two lines.
pub fn new(addrs: Vec<SocketAddr>, nick: Option<&str>) -> Connect {
    let hello = nick.map(|n| format!("/nick {n}\n").into_bytes()).unwrap_or_default();
    Connect::tcp(Bridge::sending_first(hello), addrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocols::session::{Outcome, TAG};
    use crate::testing::TestTransport;

    #[test]
    fn the_nick_goes_first_then_what_was_typed_and_replies_are_printed() {
        let server = SocketAddr::from(([127, 0, 0, 1], 7000));
        let mut t = TestTransport::new(new(vec![server], Some("alice")));
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
