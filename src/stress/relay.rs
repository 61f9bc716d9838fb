//! relay under load: clients in pairs (0 and 1, 2 and 3, ...; an odd one out talks to
//! itself), each registering a name with `name:NAME` and sending `to:PARTNER;content:TEXT`.
//! Every send must be answered `200, ...` in order, and reach the partner as
//! `<sender ip>/<sender port> ; content : TEXT`, with the sender's real address.
//!
//! Any other code (405 for an absent recipient, 409 for a name taken, ...) is the server
//! refusing, an error.

use super::fanout::{Audience, Dialect, Heard};
use super::message::Names;
use crate::protocols::relay::{NAMED, SENT_TCP};
use std::net::{IpAddr, SocketAddr};

/// Between the sender's address and the text of a forwarded line.
const CONTENT: &[u8] = b" ; content : ";

pub(crate) struct RelayTalk {
    names: Names,
}

impl RelayTalk {
    pub(crate) fn new(names: Names) -> RelayTalk {
        RelayTalk { names }
    }
}

impl Dialect for RelayTalk {
    fn audience(&self) -> Audience {
        Audience::Partner
    }

    fn acks(&self) -> bool {
        true
    }

    fn register(&self, me: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(b"name:");
        self.names.write(me, out);
        out.push(b'\n');
    }

    fn send(&self, _me: u32, to: u32, text: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(b"to:");
        self.names.write(to, out);
        out.extend_from_slice(b";content:");
        out.extend_from_slice(text);
        out.push(b'\n');
    }

    fn hear<'a>(&self, _me: u32, line: &'a [u8]) -> Heard<'a> {
        if line == SENT_TCP.as_bytes() {
            return Heard::Ack;
        }
        if line == NAMED.as_bytes() {
            return Heard::Registered;
        }
        if let Some(at) = line.windows(CONTENT.len()).position(|w| w == CONTENT) {
            return Heard::Message { from: &line[..at], text: &line[at + CONTENT.len()..] };
        }
        match line.get(..3) {
            Some(code) if code.iter().all(u8::is_ascii_digit) => Heard::Refused,
            _ => Heard::Garbled,
        }
    }

    /// `from` is `IP/PORT` as the server saw the sender; an IPv4 sender of a dual-stack
    /// server shows as `::ffff:a.b.c.d`, the same address.
    fn said_by(&self, from: &[u8], _sender: u32, addr: SocketAddr) -> bool {
        let Some((ip, port)) = std::str::from_utf8(from).ok().and_then(|f| f.rsplit_once('/')) else {
            return false;
        };
        match (ip.parse::<IpAddr>(), port.parse::<u16>()) {
            (Ok(ip), Ok(port)) => ip.to_canonical() == addr.ip().to_canonical() && port == addr.port(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talk() -> RelayTalk {
        RelayTalk::new(Names::with_tag("tr".into()))
    }

    #[test]
    fn what_a_client_hears() {
        let t = talk();
        let heard = |line: &'static str| t.hear(0, line.as_bytes());
        assert_eq!(heard("200, Name registered"), Heard::Registered);
        assert_eq!(heard("200, Message Sent Successfully"), Heard::Ack);
        assert_eq!(
            heard("127.0.0.1/40001 ; content : #1/0.bc"),
            Heard::Message { from: b"127.0.0.1/40001", text: b"#1/0.bc" }
        );
        for refused in
            ["405, Could not send the message to the requested address", "409, Name already taken", "401"]
        {
            assert_eq!(heard(refused), Heard::Refused, "{refused}");
        }
        assert_eq!(heard("('127.0.0.1', 40000)"), Heard::Garbled);
    }

    #[test]
    fn the_sender_is_known_by_its_address() {
        let t = talk();
        let addr: SocketAddr = "127.0.0.1:40001".parse().expect("address");
        assert!(t.said_by(b"127.0.0.1/40001", 1, addr));
        assert!(t.said_by(b"::ffff:127.0.0.1/40001", 1, addr));
        assert!(!t.said_by(b"127.0.0.1/40002", 1, addr));
        assert!(!t.said_by(b"127.0.0.2/40001", 1, addr));
        assert!(!t.said_by(b"nonsense", 1, addr));
        assert!(t.said_by(b"::1/7", 0, "[::1]:7".parse().expect("address")));
    }

    #[test]
    fn what_a_client_says() {
        let t = talk();
        let mut out = Vec::new();
        t.register(2, &mut out);
        t.send(2, 3, b"#2/0.x", &mut out);
        assert_eq!(out, b"name:tr2\nto:tr3;content:#2/0.x\n");
    }
}
