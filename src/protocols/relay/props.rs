//! Property tests of the relay: no input panics the parser or either server, and a
//! well-formed request always parses to what it says, whatever spacing and case it uses.

use super::parse::{Dialect, Request, Target, parse};
use super::{TcpRelay, UdpRelay};
use crate::testing::TestTransport;
use proptest::prelude::*;
use proptest::sample::Index;
use std::net::{Ipv4Addr, SocketAddr};

/// Strings built from the characters the parser cares about, to reach every branch.
fn near_requests() -> impl Strategy<Value = String> {
    "[tToO:;/\\[\\]cContent 0-9.+_\\-a-z\u{3000}\u{663}]{0,40}"
}

fn spacing() -> impl Strategy<Value = String> {
    "[ \t\u{3000}]{0,2}"
}

proptest! {
    #[test]
    fn the_parser_never_panics(m in prop_oneof![any::<String>(), near_requests()]) {
        let _ = parse(&m, Dialect::Classic);
        let _ = parse(&m, Dialect::Named);
    }

    #[test]
    fn a_well_formed_send_parses_to_its_parts(
        ip in any::<[u8; 4]>(),
        port in 1u16..,
        msg in "[a-zA-Z0-9!?.,;/é]([a-zA-Z0-9!?., ;/é]*[a-zA-Z0-9!?.,;/é])?",
        (s1, s2, s3, s4) in (spacing(), spacing(), spacing(), spacing()),
        upper in any::<bool>(),
    ) {
        let ip = Ipv4Addr::from(ip);
        let (to, content) = if upper { ("TO", "Content") } else { ("to", "content") };
        let m = format!("{s1}{to}:{s2}{ip}/{port}{s3};{content}:{s4}{msg}{s4}");
        let want = Request::Send { to: Target::Addr(SocketAddr::from((ip, port))), msg: msg.as_str() };
        prop_assert_eq!(parse(&m, Dialect::Classic), Ok(want.clone()));
        prop_assert_eq!(parse(&m, Dialect::Named), Ok(want));
    }

    #[test]
    fn the_udp_relay_answers_every_datagram_and_never_panics(
        data in prop_oneof![prop::collection::vec(any::<u8>(), 0..200), near_requests().prop_map(String::into_bytes)],
    ) {
        let mut t = TestTransport::new(UdpRelay::new(false));
        let sock = t.udp_socket();
        let from: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        t.datagram(sock, from, &data);
        let sent = t.take_datagrams();
        prop_assert!(sent.last().is_some_and(|d| d.to == from), "no answer to {data:?}: {sent:?}");
    }

    #[test]
    fn the_tcp_relay_never_panics_and_holds_at_most_one_line(
        data in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b';'), Just(b':')], 0..400),
        cuts in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        let mut t = TestTransport::new(TcpRelay::new(false, 64));
        let (a, _b) = (t.accept(), t.accept());
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        at.extend([0, data.len()]);
        at.sort_unstable();
        for w in at.windows(2) {
            t.feed(a, &data[w[0]..w[1]]);
        }
        prop_assert!(t.held(a).len() <= 66);
    }
}
