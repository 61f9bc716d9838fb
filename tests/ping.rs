//! udp-ping with real sockets on 127.0.0.1 and [::1]: the classic exchange byte for byte,
//! loss exactly as the seed dictates, one client's delay never slowing another, bad
//! datagrams counted and ignored, and the `sockloop ping` client as a user runs it.
//! Every wait is bounded: a socket read timeout or a deadline.

mod common;
#[path = "support/process.rs"]
mod process;

use common::{IO_TIMEOUT, Server};
use process::{ServeProc, run};
use sockloop::protocols::ping::wire::Header;
use sockloop::protocols::ping::{
    ACK, CALIBRATED, Counters, Fate, Impair, Impairment, PingServer, REMOTE_STOP_DISABLED, STOPPING,
    ServerOptions,
};
use sockloop::{Config, Reactor};
use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A ping server on its own thread, on `addr` (port 0); stopping it returns its counters.
fn in_process<I: Impair + Send + 'static>(addr: SocketAddr, impair: I) -> (Server<Counters>, SocketAddr) {
    let (tx, rx) = mpsc::channel();
    let server = Server::start(
        &[],
        move || {
            let mut reactor =
                Reactor::new(PingServer::new(impair, ServerOptions::default()), Config::default())?;
            let (_, local) = reactor.bind_udp(addr)?;
            let _ = tx.send(local);
            Ok(reactor)
        },
        |reactor| reactor.handler().counters(),
    );
    let local = rx.recv_timeout(IO_TIMEOUT).expect("the server bound its socket");
    (server, local)
}

fn client(addr: SocketAddr) -> UdpSocket {
    let any: SocketAddr = if addr.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" }.parse().unwrap();
    let s = UdpSocket::bind(any).expect("bind");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

fn ask(s: &UdpSocket, to: SocketAddr, msg: &[u8]) -> Vec<u8> {
    s.send_to(msg, to).expect("send");
    recv(s)
}

fn recv(s: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0; 65_536];
    let (n, _) = s.recv_from(&mut buf).expect("a reply within the timeout");
    buf.truncate(n);
    buf
}

/// `sockloop serve udp-ping ARGS`, with its `listening on` lines read.
fn serve(args: &[&str]) -> ServeProc {
    ServeProc::start(&[&["udp-ping"][..], args].concat())
}

/// Runs `sockloop ping ARGS` to its end (bounded); returns its success and its stdout.
fn ping(args: &[&str]) -> (bool, String) {
    let (status, out, _) = run(&[&["ping"][..], args].concat(), b"");
    (status.success(), String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn the_classic_client_exchange_byte_for_byte_then_a_remote_stop() {
    let server = serve(&["--listen", "127.0.0.1:0", "--classic", "--allow-remote-stop"]);
    let s = client(server.addr());
    assert_eq!(ask(&s, server.addr(), b"C 1024"), CALIBRATED.as_bytes());
    assert_eq!(CALIBRATED.len(), 33);
    // 10% loss: ask until one probe is answered (at most a few tries).
    s.set_read_timeout(Some(Duration::from_millis(800))).unwrap();
    let acked = (0..20).find_map(|_| {
        s.send_to(b"Hello Server", server.addr()).expect("send");
        let mut buf = [0; 1024];
        s.recv_from(&mut buf).ok().map(|(n, _)| buf[..n].to_vec())
    });
    assert_eq!(acked.as_deref(), Some(ACK.as_bytes()), "19 bytes");
    // A late ack of an earlier try (delays reach 500 ms) may still come: skip those.
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.send_to(b"exit", server.addr()).expect("send");
    let answer = std::iter::repeat_with(|| recv(&s)).find(|d| d != ACK.as_bytes());
    assert_eq!(answer.as_deref(), Some(STOPPING.as_bytes()), "never dropped, 20 bytes");
    let (status, rest) = server.wait();
    assert!(status.success(), "the server stopped by itself and exited 0: {status}");
    assert!(rest.iter().any(|l| l.starts_with("stats: ")), "{rest:?}");
}

#[test]
fn exit_without_the_flag_is_refused_and_the_server_keeps_serving() {
    let server = serve(&["--listen", "127.0.0.1:0"]);
    let s = client(server.addr());
    assert_eq!(ask(&s, server.addr(), b"exit"), REMOTE_STOP_DISABLED.as_bytes());
    assert_eq!(ask(&s, server.addr(), b"Hello Server"), ACK.as_bytes());
}

#[test]
fn seeded_loss_drops_exactly_the_probes_the_rng_dictates() {
    let server = serve(&["--listen", "127.0.0.1:0", "--loss", "0.1", "--seed", "7"]);
    let s = client(server.addr());
    let n = 300;
    // Replies are read as they come, so no receive buffer overflows and drops on its own.
    let reader = s.try_clone().expect("clone");
    // The reader stops after 2 s without a reply: the end, even on a loaded machine.
    reader.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let answers = thread::spawn(move || {
        let mut answered = BTreeSet::new();
        let mut buf = [0; 128];
        while let Ok((len, _)) = reader.recv_from(&mut buf) {
            answered.insert(Header::parse_reply(&buf[..len]).expect("a numbered reply").seq);
        }
        answered
    });
    for seq in 1..=n {
        s.send_to(&Header { seq, sent_ns: seq }.probe(64), server.addr()).expect("send");
        // Paced, so the server's receive buffer never overflows either.
        thread::sleep(Duration::from_micros(200));
    }
    let answered = answers.join().expect("reader");
    let mut replay = Impairment::new(0.1, Duration::ZERO..=Duration::ZERO, 7);
    let expected: BTreeSet<u64> = (1..=n).filter(|_| !replay.next_fate().dropped).collect();
    assert_eq!(answered, expected);
    let dropped = n as usize - expected.len();
    assert!((10..=60).contains(&dropped), "about 10% of {n}: {dropped}");
}

#[test]
fn sockloop_ping_measures_the_seeded_loss() {
    let server = serve(&["--listen", "127.0.0.1:0", "--loss", "10%", "--seed", "1"]);
    let mut replay = Impairment::new(0.1, Duration::ZERO..=Duration::ZERO, 1);
    let received = (0..40).filter(|_| !replay.next_fate().dropped).count();
    let addr = server.addr().to_string();
    // A generous window: on a loaded test machine a reply can take longer than 5 ms.
    let (ok, out) = ping(&[&addr, "--count", "40", "--interval", "5ms", "--timeout", "2s"]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("40 packets transmitted, {received} received")), "{out}");
    assert!(out.contains(&format!("--- {addr} ping statistics ---")), "{out}");
    assert!(out.contains("rtt min/avg/max/mdev = "), "{out}");
    assert!(out.contains("second  sent  acked  throughput (bit/s)  avg delay (ms)"), "{out}");
    assert_eq!(out.matches(" bytes from ").count(), received, "{out}");
}

#[test]
fn one_clients_long_delay_never_slows_another() {
    let slow = client("127.0.0.1:0".parse().unwrap());
    let slow_addr = slow.local_addr().unwrap();
    let fate = move |from: SocketAddr| Fate {
        delay: if from == slow_addr { Duration::from_millis(200) } else { Duration::ZERO },
        dropped: false,
    };
    let (server, addr) = in_process("127.0.0.1:0".parse().unwrap(), fate);
    let sent = Instant::now();
    slow.send_to(&Header { seq: 1, sent_ns: 0 }.probe(64), addr).expect("send");
    let fast = client(addr);
    let mut rtts = Vec::new();
    for seq in 1..=20 {
        let t = Instant::now();
        let reply = ask(&fast, addr, &Header { seq, sent_ns: seq }.probe(64));
        rtts.push(t.elapsed());
        assert_eq!(Header::parse_reply(&reply).map(|h| h.seq), Some(seq));
    }
    if sent.elapsed() < Duration::from_millis(150) {
        // Not a stalled machine: the slow reply must still be waiting now.
        slow.set_nonblocking(true).unwrap();
        let mut buf = [0; 128];
        assert!(slow.recv_from(&mut buf).is_err(), "the slow reply came before its delay");
        slow.set_nonblocking(false).unwrap();
    }
    rtts.sort();
    // The median, so that a stall of the whole (shared) machine cannot fail the test.
    assert!(rtts[10] < Duration::from_millis(20), "the fast client waited: {rtts:?}");
    let reply = recv(&slow);
    assert!(sent.elapsed() >= Duration::from_millis(200), "the slow reply waited: {:?}", sent.elapsed());
    assert_eq!(Header::parse_reply(&reply).map(|h| h.seq), Some(1));
    let counters = server.stop();
    assert_eq!((counters.probes, counters.replied, counters.delayed), (21, 21, 1));
}

#[test]
fn malformed_and_oversized_datagrams_are_counted_and_ignored() {
    let (server, addr) = in_process("127.0.0.1:0".parse().unwrap(), Impairment::none());
    let s = client(addr);
    for bad in [&b""[..], b"\xff\xfe\xfd", b"C", b"C abc", b"C 0", b"C -1"] {
        s.send_to(bad, addr).expect("send");
    }
    let probe = Header { seq: 1, sent_ns: 1 };
    let reply = ask(&s, addr, &probe.probe(64));
    assert_eq!(Header::parse_reply(&reply), Some(probe), "no reply to any of the bad ones");
    // Longer than the 1024 bytes a server reads until calibrated: cut as recvfrom would.
    let big = Header { seq: 2, sent_ns: 2 };
    let reply = ask(&s, addr, &big.probe(1500));
    assert_eq!((reply.len(), Header::parse_reply(&reply)), (1024, Some(big)));
    assert_eq!(ask(&s, addr, b"C 1500"), CALIBRATED.as_bytes());
    assert_eq!(ask(&s, addr, &big.probe(1500)).len(), 1500, "calibrated: read whole");
    let c = server.stop();
    assert_eq!((c.malformed, c.truncated, c.probes, c.calibrations), (6, 1, 3, 1));
}

#[test]
fn ipv6_server_and_client() {
    let server = serve(&["--listen", "[::1]:0"]);
    assert!(server.addr().is_ipv6());
    let (ok, out) = ping(&[&server.addr().to_string(), "-c", "3", "-i", "20ms", "--json"]);
    assert!(ok, "{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(doc["summary"]["received"], 3);
    assert_eq!(doc["probes"].as_array().map(Vec::len), Some(3));
    let (server, addr) = in_process("[::1]:0".parse().unwrap(), Impairment::none());
    assert_eq!(ask(&client(addr), addr, b"Hello Server"), ACK.as_bytes());
    assert_eq!(server.stop().replied, 1);
}

#[test]
fn nothing_back_is_100_percent_loss_and_exit_status_1() {
    // A port nobody listens on: the ICMP port-unreachable must not end the run.
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (ok, out) = ping(&[&closed.to_string(), "-c", "3", "-i", "30ms"]);
    assert!(!ok, "{out}");
    assert!(out.contains("3 packets transmitted, 0 received, 100% packet loss"), "{out}");
    assert_eq!(out.matches("no answer yet for seq=").count(), 3, "{out}");
}

#[test]
fn flood_from_many_sockets_on_one_thread() {
    let server = serve(&["--listen", "127.0.0.1:0"]);
    let (ok, out) =
        ping(&[&server.addr().to_string(), "--flood", "--senders", "50", "--duration", "300ms", "--json"]);
    assert!(ok, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(report["senders"], 50);
    assert!(report["received"].as_u64().unwrap_or(0) > 50, "{out}");
}

#[test]
fn help_shows_examples() {
    for args in [&["ping", "--help"][..], &["serve", "udp-ping", "--help"]] {
        let out = Command::new(process::BIN).args(args).output().expect("run sockloop");
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Examples:"), "{args:?}");
    }
}
