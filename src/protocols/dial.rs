//! Which address an interactive client tries next.
//!
//! A host name often has several addresses (`localhost` is `::1` and `127.0.0.1`) and a
//! server may listen on only one of them, so, as `nc` does, a failed connect moves on to
//! the next address and only the last error is reported (see [`super::session`]).

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
