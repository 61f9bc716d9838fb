//! echo: every byte back, in order. On the peer's FIN, everything received has already been
//! queued back; we send it, then our own FIN (half-close is a state, not an error).

use crate::{ConnId, ConnInfo, Context, Handler};

#[derive(Clone, Copy, Debug, Default)]
pub struct Echo;

impl Handler for Echo {
    type Conn = ();

    fn connected(&mut self, _ctx: &mut Context<'_>, _id: ConnId, _info: &ConnInfo) {}

    fn data(&mut self, _conn: &mut (), ctx: &mut Context<'_>, data: &[u8]) -> usize {
        ctx.write(data);
        data.len()
    }

    /// Every byte was consumed (echoed) as it came, so nothing is left over.
    fn eof(&mut self, _conn: &mut (), ctx: &mut Context<'_>, _rest: &[u8]) {
        ctx.shutdown_write();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CloseReason;
    use crate::testing::TestTransport;

    #[test]
    fn echoes_every_byte_in_order_under_any_split() {
        let input: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        for chunk in [1, 7, 64, 4999, 5000] {
            let mut t = TestTransport::new(Echo);
            let c = t.accept();
            for piece in input.chunks(chunk) {
                t.feed(c, piece);
            }
            assert_eq!(t.take_output(c), input, "chunk size {chunk}");
            assert!(t.held(c).is_empty());
        }
    }

    #[test]
    fn eof_half_closes_then_the_connection_ends() {
        let mut t = TestTransport::new(Echo);
        let c = t.accept();
        t.feed(c, b"last words");
        t.eof(c);
        assert_eq!(t.output(c), b"last words");
        assert!(t.is_write_shut(c));
        assert_eq!(t.closed(c), Some(CloseReason::PeerClosed));
    }
}
