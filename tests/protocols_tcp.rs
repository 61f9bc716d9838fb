//! The shipped TCP protocols on real sockets: greet and ack, on IPv4 and IPv6.

mod common;

use common::*;
use sockloop::protocols::ack::{Ack, REPLY};
use sockloop::protocols::greet::{BANNER, Greet};
use sockloop::{CloseReason, Config, Reactor};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn greet_server(answer_timeout: Duration) -> Server<Vec<(SocketAddr, Vec<u8>)>> {
    Server::with(&[v4(), v6()], Greet::new(BANNER.to_vec(), answer_timeout), Config::default(), |r| {
        std::mem::take(&mut r.handler_mut().answers)
    })
}

#[test]
fn greet_sends_the_banner_hears_the_answer_and_closes() {
    assert_eq!(BANNER.len(), 44);
    let server = greet_server(Duration::from_secs(30));
    let mut peers = Vec::new();
    for addr in server.addrs.clone() {
        let mut s = connect(addr);
        let mut banner = [0; 44];
        s.read_exact(&mut banner).unwrap();
        assert_eq!(&banner, BANNER);
        s.write_all(b"Hi").unwrap();
        expect_eof(&mut s);
        peers.push(s.local_addr().unwrap());
    }
    let handle = server.handle.clone();
    let answers = server.stop();
    assert_eq!(answers, peers.into_iter().map(|p| (p, b"Hi".to_vec())).collect::<Vec<_>>());
    assert_eq!(handle.stats().closed(CloseReason::Local), 2, "{}", handle.stats());
}

#[test]
fn greet_closes_a_client_that_never_answers() {
    let timeout = Duration::from_millis(200);
    let server = greet_server(timeout);
    let mut s = connect(server.addr());
    let since = Instant::now();
    let mut banner = [0; 44];
    s.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, BANNER);
    expect_eof(&mut s);
    assert!(since.elapsed() >= timeout / 2, "closed after {:?}, before the timeout", since.elapsed());
    let handle = server.handle.clone();
    let answers = server.stop();
    assert!(answers.is_empty());
    assert_eq!(handle.stats().closed(CloseReason::Local), 1, "{}", handle.stats());
}

/// The classic lock-step client: five messages, five acknowledgements, then `exit`.
fn ack_session(addr: SocketAddr) {
    let mut s = connect(addr);
    for _ in 0..5 {
        s.write_all(b"Hii Server").unwrap();
        let mut reply = [0; REPLY.len()];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"Acknowledgement");
    }
    s.write_all(b"exit").unwrap();
    expect_eof(&mut s);
}

fn ack_on(listen: SocketAddr) {
    let server = Server::with(&[listen], Ack::default(), Config::default(), |_: &mut Reactor<Ack>| ());
    assert_eq!(server.addr().is_ipv6(), listen.is_ipv6());
    // After `exit` the server keeps accepting: a second and a third client are served too.
    for _ in 0..3 {
        ack_session(server.addr());
    }
    let handle = server.handle.clone();
    server.stop();
    let stats = handle.stats();
    assert_eq!(stats.accepted.get(), 3);
    assert_eq!(stats.closed(CloseReason::Local), 3, "{stats}");
    assert_eq!(stats.bytes_out.get(), 3 * 5 * REPLY.len() as u64);
}

#[test]
fn ack_acknowledges_each_message_and_exit_closes_on_ipv4() {
    ack_on(v4());
}

#[test]
fn ack_acknowledges_each_message_and_exit_closes_on_ipv6() {
    ack_on(v6());
}
