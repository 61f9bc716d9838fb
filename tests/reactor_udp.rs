//! A UDP send that fails for a reason of its own (a datagram too long for UDP, an address
//! of the other family) drops that one datagram and counts it; the socket goes on serving.

mod common;

use common::*;
use sockloop::{Config, ConnId, ConnInfo, Context, Handler, Reactor};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;

/// Answers each datagram with three sends: one longer than UDP allows, one to an IPv6
/// address from its IPv4 socket, then the datagram itself.
struct Answer;

impl Handler for Answer {
    type Conn = ();

    fn connected(&mut self, _ctx: &mut Context<'_>, _id: ConnId, _info: &ConnInfo) {}

    fn data(&mut self, _conn: &mut (), _ctx: &mut Context<'_>, data: &[u8]) -> usize {
        data.len()
    }

    fn datagram(&mut self, ctx: &mut Context<'_>, sock: ConnId, from: SocketAddr, data: &[u8]) {
        ctx.send_to(sock, from, &vec![0; 70_000]);
        ctx.send_to(sock, SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, from.port())), b"v6");
        ctx.send_to(sock, from, data);
    }
}

#[test]
fn a_failed_send_drops_one_datagram_and_the_socket_goes_on() {
    let _ = env_logger::builder().is_test(true).try_init();
    let (addr_tx, addr_rx) = mpsc::channel();
    let server = Server::start(
        &[],
        move || {
            let mut reactor = Reactor::new(Answer, Config::default())?;
            let (_, local) = reactor.bind_udp(v4())?;
            addr_tx.send(local).expect("test waits for the address");
            Ok(reactor)
        },
        |_| (),
    );
    let server_addr = addr_rx.recv_timeout(IO_TIMEOUT).expect("udp address");
    let client = UdpSocket::bind(v4()).unwrap();
    client.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut buf = [0u8; 100];
    for (round, msg) in [&b"first"[..], b"second"].into_iter().enumerate() {
        client.send_to(msg, server_addr).unwrap();
        let (n, from) = client.recv_from(&mut buf).expect("the third send still arrives");
        assert_eq!((&buf[..n], from), (msg, server_addr));
        // The reply can arrive before the reactor has counted it: wait for the counters.
        let (stats, sent) = (server.handle.stats(), round as u64 + 1);
        wait_until("the sends counted", IO_TIMEOUT, || stats.datagrams_out.get() == sent);
        assert_eq!(stats.datagrams_dropped.get(), 2 * sent, "both failed sends counted");
    }
    server.stop();
}
