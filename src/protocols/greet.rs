//! greet: the server speaks first. On connect it sends the banner (by default the classic
//! 44 bytes `Message received. Thank you for connecting\r\n`, all in one write so the classic
//! client's single `recv` gets it whole), reads what the client answers (`Hi`), logs it and
//! closes. A client that never answers is closed after a timeout.

use crate::{ConnId, ConnInfo, Context, Handler};
use log::info;
use std::net::SocketAddr;
use std::time::Duration;

pub const BANNER: &[u8] = b"Message received. Thank you for connecting\r\n";

#[derive(Clone, Debug)]
pub struct Greet {
    banner: Vec<u8>,
    answer_timeout: Duration,
    /// Answers heard, newest last (kept for tests and examples; capped).
    pub answers: Vec<(SocketAddr, Vec<u8>)>,
}

const KEEP_ANSWERS: usize = 64;

impl Default for Greet {
    fn default() -> Self {
        Greet::new(BANNER.to_vec(), Duration::from_secs(10))
    }
}

impl Greet {
    pub fn new(banner: Vec<u8>, answer_timeout: Duration) -> Self {
        Greet { banner, answer_timeout, answers: Vec::new() }
    }
}

/// A greeted client: we wait for its answer until the timer says otherwise.
#[derive(Debug)]
pub struct Waiting {
    peer: SocketAddr,
}

const ANSWER_TIMEOUT: u64 = 0;

impl Handler for Greet {
    type Conn = Waiting;

    fn connected(&mut self, ctx: &mut Context<'_>, _id: ConnId, info: &ConnInfo) -> Waiting {
        ctx.write(&self.banner);
        ctx.set_timer(self.answer_timeout, ANSWER_TIMEOUT);
        Waiting { peer: info.peer }
    }

    fn data(&mut self, conn: &mut Waiting, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        info!("{} answered: {}", conn.peer, String::from_utf8_lossy(data));
        if self.answers.len() == KEEP_ANSWERS {
            self.answers.remove(0);
        }
        self.answers.push((conn.peer, data.to_vec()));
        ctx.close();
        data.len()
    }

    fn timer(&mut self, conn: &mut Waiting, ctx: &mut Context<'_>, _key: u64) {
        info!("{}: no answer in {:?}, closing", conn.peer, self.answer_timeout);
        ctx.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CloseReason;
    use crate::testing::TestTransport;

    #[test]
    fn banner_first_then_answer_then_close() {
        let mut t = TestTransport::new(Greet::default());
        let c = t.accept();
        assert_eq!(t.take_output(c), BANNER);
        assert_eq!(BANNER.len(), 44);
        assert_eq!(t.closed(c), None);
        t.feed(c, b"Hi");
        assert_eq!(t.closed(c), Some(CloseReason::Local));
        assert_eq!(t.handler().answers.last().map(|a| a.1.as_slice()), Some(&b"Hi"[..]));
        assert_eq!(t.take_output(c), b"", "nothing after the banner");
    }

    #[test]
    fn silent_client_is_closed_after_the_timeout_and_not_before() {
        let mut t = TestTransport::new(Greet::new(b"hello\r\n".to_vec(), Duration::from_secs(3)));
        let c = t.accept();
        t.advance(Duration::from_millis(2999));
        assert_eq!(t.closed(c), None);
        t.advance(Duration::from_millis(1));
        assert_eq!(t.closed(c), Some(CloseReason::Local));
        assert_eq!(t.output(c), b"hello\r\n");
    }
}
