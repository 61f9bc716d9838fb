//! The relay parser and both relay servers on arbitrary input.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run relay_parse -- -max_total_time=300
//!
//! Besides "never panics": every datagram is answered to its sender, a TCP member never
//! makes the reactor hold more than one line, and a parsed message never keeps the spaces
//! `strip()` would remove.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockloop::protocols::python;
use sockloop::protocols::relay::{Dialect, Request, TcpRelay, UdpRelay, parse};
use sockloop::testing::TestTransport;
use std::net::SocketAddr;

const MAX_LINE: usize = 64;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = std::str::from_utf8(data) {
        for dialect in [Dialect::Classic, Dialect::Named] {
            if let Ok(Request::Send { msg, .. } | Request::Name(msg)) = parse(m, dialect) {
                assert_eq!(python::strip(msg), msg);
            }
        }
    }

    let mut udp = TestTransport::new(UdpRelay::new(false));
    let sock = udp.udp_socket();
    let from: SocketAddr = "127.0.0.1:40000".parse().expect("a literal address");
    udp.datagram(sock, from, data);
    assert!(udp.take_datagrams().last().is_some_and(|d| d.to == from));

    let mut tcp = TestTransport::new(TcpRelay::new(false, MAX_LINE));
    let (a, _b) = (tcp.accept(), tcp.accept());
    for piece in data.chunks(7) {
        tcp.feed(a, piece);
        assert!(tcp.held(a).len() <= MAX_LINE + 2);
    }
});
