//! relay over real sockets on 127.0.0.1 and [::1]: the classic UDP exchange byte for byte
//! (two clients, the forwarded datagram coming from the server's address), every error code,
//! remote stop; the TCP relay by address and by name; then the binary as a user runs it.
//! Every socket has a read timeout and every wait a deadline.

mod common;
#[path = "support/process.rs"]
mod process;

use common::{IO_TIMEOUT, LineClient, Server, expect_closed, v4, v6, wait_until};
use process::{ServeProc, run};
use sockloop::protocols::relay::{
    LINE_TOO_LONG, NOT_UTF8, REMOTE_STOP_DISABLED, SENT, SENT_TCP, TcpRelay, UNREACHABLE, UdpRelay,
};
use sockloop::{Config, Reactor};
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::Duration;

/// A UDP relay on its own thread, bound to `addr` (port 0); returns it and its address.
fn udp_relay(addr: SocketAddr, allow_remote_stop: bool) -> (Server<()>, SocketAddr) {
    let (tx, rx) = mpsc::channel();
    let server = Server::start(
        &[],
        move || {
            let mut reactor = Reactor::new(UdpRelay::new(allow_remote_stop), Config::default())?;
            let (sock, local) = reactor.bind_udp(addr)?;
            reactor.handler_mut().bound(sock, local);
            let _ = tx.send(local);
            Ok(reactor)
        },
        |_: &mut Reactor<UdpRelay>| (),
    );
    let local = rx.recv_timeout(IO_TIMEOUT).expect("the relay's address");
    (server, local)
}

/// A client socket on the loopback address of `server`'s family.
fn udp_client(server: SocketAddr) -> UdpSocket {
    let s = UdpSocket::bind(SocketAddr::new(server.ip(), 0)).expect("bind");
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    s
}

/// Sends `m` and returns the next datagram with its sender.
fn ask(s: &UdpSocket, server: SocketAddr, m: &[u8]) -> (String, SocketAddr) {
    s.send_to(m, server).expect("send");
    recv(s)
}

fn recv(s: &UdpSocket) -> (String, SocketAddr) {
    let mut buf = [0; 2048];
    let (n, from) = s.recv_from(&mut buf).unwrap_or_else(|e| panic!("no datagram: {e}"));
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
}

/// The classic exchange: A learns its address with `hii`, B sends to A, A gets the exact
/// forwarded bytes from the server's address, B gets 200.
fn udp_exchange(listen: SocketAddr, hii_reply: fn(SocketAddr) -> String, target: fn(SocketAddr) -> String) {
    let (server, addr) = udp_relay(listen, false);
    let (a, b) = (udp_client(addr), udp_client(addr));
    let (a_addr, b_addr) = (a.local_addr().expect("addr"), b.local_addr().expect("addr"));
    assert_eq!(ask(&a, addr, b"hii"), (hii_reply(a_addr), addr));
    assert_eq!(ask(&a, addr, b"HII"), (hii_reply(a_addr), addr));
    let m = format!("to:{};content:hello there", target(a_addr));
    assert_eq!(ask(&b, addr, m.as_bytes()), (SENT.to_string(), addr));
    let forwarded = format!("{}/{} ; content : hello there", b_addr.ip(), b_addr.port());
    assert_eq!(recv(&a), (forwarded, addr), "forwarded from the server's own socket");
    let m = format!("to:{};content:", target(a_addr));
    assert_eq!(ask(&b, addr, m.as_bytes()).0, SENT);
    assert_eq!(recv(&a).0, format!("{}/{} ; content : ", b_addr.ip(), b_addr.port()), "an empty message");
    server.stop();
}

#[test]
fn udp_the_classic_exchange_on_ipv4() {
    udp_exchange(v4(), |a| format!("('127.0.0.1', {})", a.port()), |a| format!("127.0.0.1/{}", a.port()));
}

#[test]
fn udp_the_same_exchange_on_ipv6() {
    udp_exchange(v6(), |a| format!("('::1', {}, 0, 0)", a.port()), |a| format!("[::1]/{}", a.port()));
}

#[test]
fn udp_every_error_code_and_the_server_stays_up() {
    let (server, addr) = udp_relay(v4(), false);
    let c = udp_client(addr);
    for (m, want) in [
        (&b"hello"[..], "400"),
        (b"to:127.0.0.1:5;content:x", "401"),
        (b"from:127.0.0.1/5;content:x", "402"),
        (b"to:127.0.0.1/five;content:x", "403"),
        (b"to:127.0.0.1/5;body:x", "404"),
        (b"to:127.0.0.1/70000;content:x", UNREACHABLE),
        (b"to:127.0.0.1/0;content:x", UNREACHABLE),
        (b"to:localhost/5000;content:x", UNREACHABLE),
        (b"to:[::1]/5000;content:x", UNREACHABLE),
        (b"exit server", REMOTE_STOP_DISABLED),
        (b"\xff\xfe", NOT_UTF8),
    ] {
        assert_eq!(ask(&c, addr, m), (want.to_string(), addr), "{}", String::from_utf8_lossy(m));
    }
    assert_eq!(ask(&c, addr, b"hii").0, format!("('127.0.0.1', {})", c.local_addr().expect("addr").port()));
    server.stop();
}

#[test]
fn udp_exit_server_stops_it_when_allowed_without_a_reply() {
    let (server, addr) = udp_relay(v4(), true);
    let c = udp_client(addr);
    c.send_to(b"exit server", addr).expect("send");
    server.join(); // returns by itself, within the bounded wait
    c.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let mut buf = [0; 64];
    assert!(c.recv_from(&mut buf).is_err(), "no reply to exit server");
}

// ---- TCP --------------------------------------------------------------------------------

/// A relay client: a line client and the address the server knows it by.
struct Peer {
    lines: LineClient,
    addr: SocketAddr,
}

impl Peer {
    fn join(server: SocketAddr) -> Peer {
        let lines = LineClient::connect(server);
        let addr = lines.writer.local_addr().expect("addr");
        Peer { lines, addr }
    }

    fn line(&mut self) -> String {
        self.lines.line()
    }

    /// Sends a request as the lab client does (`\r\n`) and reads the reply line.
    fn ask(&mut self, m: &str) -> String {
        self.lines.send(m, "\r\n");
        self.line()
    }
}

fn tcp_relay() -> Server<()> {
    Server::with(&[v4(), v6()], TcpRelay::new(false, 256), Config::default(), |_: &mut Reactor<TcpRelay>| ())
}

#[test]
fn tcp_by_address_and_by_name_across_families() {
    let server = tcp_relay();
    let (mut a, mut b) = (Peer::join(server.addrs[0]), Peer::join(server.addrs[1]));
    assert_eq!(a.ask("hii"), format!("('127.0.0.1', {})", a.addr.port()));
    assert_eq!(b.ask("hii"), format!("('::1', {}, 0, 0)", b.addr.port()));
    assert_eq!(b.ask(&format!("to:127.0.0.1/{};content:over v6", a.addr.port())), SENT_TCP);
    assert_eq!(a.line(), format!("::1/{} ; content : over v6", b.addr.port()));
    assert_eq!(b.ask("name:bob"), "200, Name registered");
    assert_eq!(a.ask("to:bob;content: by name "), SENT_TCP);
    assert_eq!(b.line(), format!("127.0.0.1/{} ; content : by name", a.addr.port()));
    assert_eq!(a.ask(&format!("to:[::1]/{};content:", b.addr.port())), SENT_TCP);
    assert_eq!(b.line(), format!("127.0.0.1/{} ; content : ", a.addr.port()));
}

#[test]
fn tcp_an_absent_recipient_is_405_and_errors_are_lines() {
    let server = tcp_relay();
    let mut a = Peer::join(server.addr());
    let gone = Peer::join(server.addr());
    let gone_port = gone.addr.port();
    drop(gone);
    wait_until("the departed peer is gone", IO_TIMEOUT, || server.handle.stats().open.get() == 1);
    for (m, want) in [
        ("to:nobody;content:x".to_string(), UNREACHABLE),
        (format!("to:127.0.0.1/{gone_port};content:x"), UNREACHABLE),
        ("to:127.0.0.1/70000;content:x".into(), UNREACHABLE),
        ("hello".into(), "400"),
        ("to:1.2.3.4:5;content:x".into(), "401"),
        ("from:1.2.3.4/5;content:x".into(), "402"),
        ("to:1.2.3.4/x;content:x".into(), "403"),
        ("to:1.2.3.4/5;body:x".into(), "404"),
        ("exit server".into(), REMOTE_STOP_DISABLED),
    ] {
        assert_eq!(a.ask(&m), want, "{m}");
    }
}

#[test]
fn tcp_an_overlong_line_is_refused_and_closed() {
    let server = tcp_relay();
    let mut a = Peer::join(server.addr());
    a.lines.writer.write_all(&[b'x'; 300]).expect("write");
    assert_eq!(a.line(), LINE_TOO_LONG);
    expect_closed(a.lines.reader.get_mut());
    let mut b = Peer::join(server.addr());
    assert_eq!(b.ask("hii"), format!("('127.0.0.1', {})", b.addr.port()));
}

// ---- the binary ------------------------------------------------------------------------

#[test]
fn serve_relay_udp_with_the_relay_client() {
    let server = ServeProc::start(&["relay", "--udp", "--listen", "127.0.0.1:0"]);
    let addr = server.addr();
    let a = udp_client(addr);
    let a_port = a.local_addr().expect("addr").port();
    let input = format!("hii\nto:127.0.0.1/{a_port};content:from the client\nexit server\n");
    let (status, stdout, stderr) =
        run(&["relay", &addr.to_string(), "--udp", "--wait", "1s"], input.as_bytes());
    assert!(status.success(), "{status}; {stderr}");
    let stdout = String::from_utf8_lossy(&stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with(&format!("from {addr}: ('127.0.0.1', ")), "{stdout}");
    assert_eq!(lines[1], format!("from {addr}: {SENT}"));
    assert_eq!(lines[2], format!("from {addr}: {REMOTE_STOP_DISABLED}"));
    let (text, from) = recv(&a);
    assert!(text.ends_with(" ; content : from the client"), "{text}");
    assert_eq!(from, addr);
    let (status, _) = server.terminate();
    assert!(status.success());
}

#[test]
fn serve_relay_udp_stops_on_exit_server_only_with_the_flag() {
    let server = ServeProc::start(&["relay", "--udp", "--allow-remote-stop", "--listen", "[::1]:0"]);
    let c = udp_client(server.addr());
    assert_eq!(
        ask(&c, server.addr(), b"hii").0,
        format!("('::1', {}, 0, 0)", c.local_addr().expect("a").port())
    );
    c.send_to(b"exit server", server.addr()).expect("send");
    let (status, rest) = server.wait();
    assert!(status.success(), "{status}");
    assert!(rest.iter().any(|l| l.starts_with("stats: ")), "{rest:?}");
}

#[test]
fn serve_relay_tcp_with_the_relay_client() {
    let server = ServeProc::start(&["relay", "--listen", "127.0.0.1:0"]);
    let addr = server.addr();
    let mut a = Peer::join(addr);
    assert_eq!(a.ask("name:alice"), "200, Name registered");
    let (status, stdout, stderr) =
        run(&["relay", &addr.to_string()], b"hii\nto:alice;content:hi alice\nto:bob;content:x");
    assert!(status.success(), "{status}; {stderr}");
    let stdout = String::from_utf8_lossy(&stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with(&format!("from {addr}: ('127.0.0.1', ")), "{stdout}");
    assert_eq!(lines[1..], [format!("from {addr}: {SENT_TCP}"), format!("from {addr}: {UNREACHABLE}")]);
    assert!(a.line().ends_with(" ; content : hi alice"));
    let (status, _) = server.terminate();
    assert!(status.success());
}

#[test]
fn help_shows_examples() {
    for args in [&["relay", "--help"][..], &["serve", "relay", "--help"]] {
        let (status, stdout, _) = run(args, b"");
        assert!(status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&stdout).contains("Examples:"), "{args:?}");
    }
}
