//! relay: the classic UDP message relay, and the same service over TCP.
//!
//! A client asks for its own address (`hii`), or asks the server to pass a message on
//! (`to:IP/PORT;content:MSG`); the server forwards `<sender IP>/<sender port> ; content :
//! <msg>` from its own socket and tells the sender how it went, with the classic codes.
//!
//! - [`parse`](mod@parse): the request parser, shared by both transports.
//! - [`udp`]: the classic UDP server, byte for byte.
//! - [`tcp`]: the TCP server: lines instead of datagrams, and recipients by name too.
//! - [`client`]: the interactive client for either.
//!
//! Codes of our own (the classic program has no such cases), chosen not to collide with
//! the classic 400..405: 406 remote stop disabled, 407 not UTF-8, 408 line too long (TCP),
//! 409 name taken (TCP), 410 invalid name (TCP).

pub mod client;
pub mod parse;
#[cfg(test)]
mod props;
pub mod tcp;
pub mod udp;

pub use client::RelayClient;
pub use parse::{Dialect, Refusal, Request, Target, parse};
pub use tcp::TcpRelay;
pub use udp::UdpRelay;

use crate::protocols::python;
use std::net::SocketAddr;

/// The classic answer to a forwarded datagram (33 bytes).
pub const SENT: &str = "200, UDP Packet Sent Successfully";
/// The TCP answer to a forwarded line: the same code, without the word "UDP".
pub const SENT_TCP: &str = "200, Message Sent Successfully";
/// The classic answer when the send fails (56 bytes); over TCP, also for a recipient that
/// is not connected.
pub const UNREACHABLE: &str = "405, Could not send the message to the requested address";
/// `exit server` from a peer, without `--allow-remote-stop`.
pub const REMOTE_STOP_DISABLED: &str = "406, Remote stop is disabled";
/// A message that is not UTF-8 (the classic server crashes on it).
pub const NOT_UTF8: &str = "407, Message is not valid UTF-8";
/// A TCP line over the limit; the connection is closed after it.
pub const LINE_TOO_LONG: &str = "408, Line too long";
pub const NAME_TAKEN: &str = "409, Name already taken";
pub const BAD_NAME: &str = "410, Invalid name";
pub const NAMED: &str = "200, Name registered";

impl Refusal {
    /// The classic reply: the bare three digits.
    pub fn reply(self) -> &'static str {
        match self {
            Refusal::NoSemicolon => "400",
            Refusal::Format => "401",
            Refusal::Label => "402",
            Refusal::Port => "403",
            Refusal::Content => "404",
        }
    }
}

/// What the recipient gets: `127.0.0.1/40000 ; content : hi there`.
pub fn forwarded(from: &SocketAddr, msg: &str) -> String {
    format!("{}/{} ; content : {msg}", python::host_text(&from.ip()), from.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_lengths() {
        assert_eq!(SENT.len(), 33);
        assert_eq!(UNREACHABLE.len(), 56);
        assert_eq!(
            forwarded(&"127.0.0.1:40000".parse().unwrap(), "hi there"),
            "127.0.0.1/40000 ; content : hi there"
        );
        assert_eq!(forwarded(&"[::1]:40000".parse().unwrap(), ""), "::1/40000 ; content : ");
    }
}
