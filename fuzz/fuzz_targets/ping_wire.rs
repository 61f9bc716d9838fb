//! The udp-ping wire format and server on arbitrary datagrams.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run ping_wire -- -max_total_time=300
//!
//! Besides "never panics": a header that parses parses the same from the probe and the
//! reply written for it, and the server answers every datagram the classic server would
//! (to its sender), and none that would crash the classic server.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockloop::protocols::ping::DEFAULT_RECV_SIZE;
use sockloop::protocols::ping::impair::Impairment;
use sockloop::protocols::ping::server::{PingServer, ServerOptions};
use sockloop::protocols::ping::wire::{self, Header, Request};
use sockloop::testing::TestTransport;
use std::net::SocketAddr;

fuzz_target!(|data: &[u8]| {
    if let Some(h) = Header::parse(data) {
        assert_eq!(Header::parse(&h.probe(data.len())), Some(h));
        assert_eq!(Header::parse_reply(&h.reply(data.len())), Some(h));
    }
    let _ = Header::parse_reply(data);
    // The server reads at most its receive size, as `recvfrom` would, and judges that.
    let classified = wire::classify(&data[..data.len().min(DEFAULT_RECV_SIZE)]);

    // No loss, no delay: every probe is answered at once.
    let mut t = TestTransport::new(PingServer::new(Impairment::none(), ServerOptions::default()));
    let sock = t.udp_socket();
    let from: SocketAddr = "127.0.0.1:40000".parse().expect("a literal address");
    t.datagram(sock, from, data);
    let replies = t.take_datagrams();
    assert!(replies.iter().all(|d| d.to == from));
    match classified {
        Ok(Request::Probe(_) | Request::Calibrate(_) | Request::Exit) => assert_eq!(replies.len(), 1),
        Err(_) => assert!(replies.is_empty()),
    }
});
