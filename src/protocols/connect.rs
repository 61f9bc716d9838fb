//! connect: the interactive client, like `nc -N`. stdin goes to the server as it is, the
//! server's bytes go to stdout as they are; the [`Session`] around it does the rest.
//!
//! stdin's end becomes a half-close (FIN) of the socket, and the server's replies are still
//! printed; the server closing ends the session.

use crate::protocols::session::{Client, Io, Session};

/// `sockloop connect`'s session.
pub type Connect = Session<Bridge>;

/// Bytes both ways, unchanged.
#[derive(Debug, Default)]
pub struct Bridge {
    first: Vec<u8>,
}

impl Bridge {
    /// A bridge that sends `first` as soon as the connection is up, before anything typed.
    pub fn sending_first(first: Vec<u8>) -> Bridge {
        Bridge { first }
    }
}

impl Client for Bridge {
    fn opened(&mut self, io: &mut Io<'_, '_>) {
        if !self.first.is_empty() {
            io.send(&std::mem::take(&mut self.first));
        }
    }

    fn input(&mut self, io: &mut Io<'_, '_>, data: &[u8]) {
        io.send(data);
    }

    fn input_ended(&mut self, io: &mut Io<'_, '_>) {
        io.shutdown_write();
    }

    fn received(&mut self, io: &mut Io<'_, '_>, data: &[u8]) -> usize {
        io.print(data);
        data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnId;
    use crate::protocols::session::connected;
    use crate::testing::TestTransport;
    use std::net::SocketAddr;

    fn bridged() -> (TestTransport<Connect>, ConnId, ConnId) {
        connected(Bridge::default(), SocketAddr::from(([127, 0, 0, 1], 7000)))
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
}
