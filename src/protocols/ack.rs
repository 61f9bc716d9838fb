//! ack: the classic IPv4/IPv6 acknowledgement server. Every chunk read is answered with
//! `Acknowledgement` (15 bytes, no newline) whatever it holds; the chunk `exit` (exactly,
//! case-sensitive) or EOF closes the connection, and the server keeps accepting.
//!
//! "Chunk" is one read, as in the classic `recv(1024)` loop: the classic client is
//! lock-step, so one read is one message.

use crate::{ConnId, ConnInfo, Context, Handler};
use log::{debug, info};
use std::net::SocketAddr;

pub const REPLY: &[u8] = b"Acknowledgement";

#[derive(Clone, Debug)]
pub struct Ack {
    reply: Vec<u8>,
}

impl Default for Ack {
    fn default() -> Self {
        Ack { reply: REPLY.to_vec() }
    }
}

impl Ack {
    pub fn with_reply(reply: impl Into<Vec<u8>>) -> Self {
        Ack { reply: reply.into() }
    }
}

impl Handler for Ack {
    type Conn = SocketAddr;

    fn connected(&mut self, _ctx: &mut Context<'_>, _id: ConnId, info: &ConnInfo) -> SocketAddr {
        info.peer
    }

    fn data(&mut self, peer: &mut SocketAddr, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        if data == b"exit" {
            info!("{peer}: exit");
            ctx.close();
        } else {
            debug!("{peer} says: {}", String::from_utf8_lossy(data));
            ctx.write(&self.reply);
        }
        data.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CloseReason;
    use crate::testing::TestTransport;

    #[test]
    fn every_chunk_is_acknowledged_and_exit_closes() {
        let mut t = TestTransport::new(Ack::default());
        let c = t.accept();
        for _ in 0..5 {
            t.feed(c, b"Hii Server");
            assert_eq!(t.take_output(c), REPLY);
        }
        t.feed(c, b"EXIT");
        assert_eq!(t.take_output(c), REPLY, "matching is case-sensitive");
        t.feed(c, b"\xff\xfe not utf-8");
        assert_eq!(t.take_output(c), REPLY, "content never matters");
        assert_eq!(t.closed(c), None);
        t.feed(c, b"exit");
        assert_eq!(t.take_output(c), b"");
        assert_eq!(t.closed(c), Some(CloseReason::Local));
    }

    #[test]
    fn eof_closes() {
        let mut t = TestTransport::new(Ack::default());
        let c = t.accept();
        t.eof(c);
        assert_eq!(t.closed(c), Some(CloseReason::PeerClosed));
    }
}
