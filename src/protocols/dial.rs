//! What the interactive clients share about their one outbound connection: which address
//! to try next, and how the session ended.
//!
//! A host name often has several addresses (`localhost` is `::1` and `127.0.0.1`) and a
//! server may listen on only one of them, so, as `nc` does, a failed connect moves on to
//! the next address and only the last error is reported.

use crate::CloseReason;
use std::io;
use std::net::SocketAddr;

#[derive(Clone, Debug)]
pub struct Dial {
    addrs: Vec<SocketAddr>,
    attempt: usize,
}

impl Dial {
    pub fn new(addrs: Vec<SocketAddr>) -> Self {
        Dial { addrs, attempt: 0 }
    }

    /// The address being tried now (the first one until a connect fails).
    pub fn current(&self) -> Option<SocketAddr> {
        self.addrs.get(self.attempt).copied()
    }

    /// The current attempt failed: the next address to try, if any is left.
    pub fn advance(&mut self) -> Option<SocketAddr> {
        self.attempt += 1;
        self.current()
    }
}

/// How a client session ended, for the exit status.
#[derive(Debug)]
pub enum Outcome {
    /// The server closed, the input ended, or a signal stopped us: a normal end.
    Closed,
    /// No address could be connected to; the error of the last attempt.
    ConnectFailed(io::Error),
    /// The connection broke (reset, error) rather than closing cleanly.
    Lost(CloseReason),
    /// The server broke the protocol, or our input cannot be sent; the reason.
    Failed(String),
}

impl Outcome {
    /// The exit status a command line reports for this outcome, talking to `addr`.
    pub fn result(&self, addr: &str) -> Result<(), String> {
        match self {
            Outcome::Closed => Ok(()),
            Outcome::ConnectFailed(e) => Err(format!("cannot connect to {addr}: {e}")),
            Outcome::Lost(reason) => Err(format!("connection to {addr} lost: {reason}")),
            Outcome::Failed(why) => Err(why.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_tried_in_order_once_each() {
        let a: SocketAddr = "[::1]:7000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:7000".parse().unwrap();
        let mut dial = Dial::new(vec![a, b]);
        assert_eq!(dial.current(), Some(a));
        assert_eq!(dial.advance(), Some(b));
        assert_eq!(dial.advance(), None);
        assert_eq!(dial.advance(), None);
    }
}
